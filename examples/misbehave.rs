//! Small programs that misbehave on purpose, to reproduce the TCP incidents of
//! docs/incidents.md in a throwaway network namespace: the `observe` end-to-end tests run them,
//! and `scripts/bench observe` uses `farm` to build 100,000 sockets. std and libc only.
//!
//! ```text
//! misbehave MODE [OPTIONS] [--hold SECS]
//!
//! mode and options                                incident  ready line
//! listen   --addr A --backlog N                    1         ready listen=A backlog=N pid=P
//! burst    --to A --count M                        1         ready issued=M pid=P
//! closer   --addr A [--addr B ...]                 3         ready listen=A,B pid=P
//! leaky    --to A [--to B ...] --per-peer K        3         ready conns=N pid=P
//!          [--keepalive]
//! sink     --addr A [--rcvbuf BYTES]               2, 4      ready listen=A pid=P
//! source   --to A --bytes N                        2, 4      ready written=B sendq=S pid=P
//! selfloop --addr A --rate R --max N               5         ready listen=A rate=R max=N pid=P
//! farm     --listen A --from IP1,IP2,... --pairs P  bench     ready sockets=S pairs=P close_wait=K
//!          [--close-wait K]                                  listen=A procs=W build_ms=T pid=P
//! ```
//!
//! Addresses are IPv4 or IPv6 socket addresses (`127.0.0.1:4000`, `[::1]:4000`). A
//! listening address may have port 0: the ready line then gives the port the kernel chose.
//!
//! Every mode sets up its state, prints exactly one line starting `ready` to stdout (then
//! flushes it), holds the state until killed or until `--hold SECS` (default 60) has
//! passed, and exits 0. On any error it prints one line to stderr and exits 1, also when
//! the error happens in a background thread after the ready line. Every loop is bounded
//! by a count and by the hold time. RLIMIT_NOFILE is raised at start to what the mode
//! needs if the process may (CAP_SYS_RESOURCE), else to the hard limit; burst and leaky
//! fail at once if that is too few, farm spreads its sockets over worker processes.
//!
//! What each mode leaves for `ss -tanpoi` and `nstat` to see:
//! - listen: a listener with backlog N that never accepts: once N+1 connections are
//!   queued, Recv-Q = N+1 and new SYNs are dropped (TcpExtListenOverflows climbs).
//! - burst: M non-blocking connects to A, held open and silent; against `listen` the
//!   first N+1 are ESTABLISHED and the rest retransmit their SYN from SYN-SENT.
//! - closer + leaky: leaky holds K connections per peer; closer accepts and closes each
//!   at once, so leaky's sockets sit in CLOSE-WAIT forever, grouped by peer, owned by
//!   leaky's pid, with `timer:(keepalive,...)` only under --keepalive, and Recv-Q 1 (the
//!   peer's FIN counts as one byte of sequence space). leaky prints ready
//!   once every connect succeeded and the peers' FINs arrived (it waits at most 1 s for
//!   them, so against a peer that does not close it is ready as ESTABLISHED).
//! - sink + source: source fills the connection until the peer's window is zero; sink's
//!   socket keeps a stable Recv-Q, source's a stable Send-Q with `timer:(persist,...)`,
//!   and TcpExtTCPToZeroWindowAdv/TCPWantZeroWindowAdv count.
//! - selfloop: about 2R connections open at a time (R from the connector, R loops), each
//!   an ESTABLISHED pair whose two ends belong to the same pid; TIME-WAIT grows by
//!   about 2R per second.
//! - farm: P pairs, both ends held (P - K ESTABLISHED pairs, K CLOSE-WAIT/FIN-WAIT-2
//!   pairs), plus the listener: S = 2P + 1 sockets. They belong to the process of the
//!   ready line's pid when RLIMIT_NOFILE can be raised to 2P + 64 (procs=1), else to W
//!   worker processes it forked (its children, which die with it), each holding both
//!   ends of its pairs; the listener stays with the parent.
//!   50,000 pairs from 4 source addresses take about 1.3 s on 2 cores (inside a
//!   namespace with net.core.somaxconn and net.ipv4.ip_local_port_range raised).

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::str::FromStr;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

const USAGE: &str = "usage: misbehave MODE [OPTIONS] [--hold SECS]
  listen   --addr A --backlog N
  burst    --to A --count M
  closer   --addr A [--addr B ...]
  leaky    --to A [--to B ...] --per-peer K [--keepalive]
  sink     --addr A [--rcvbuf BYTES]
  source   --to A --bytes N
  selfloop --addr A --rate R --max N
  farm     --listen A --from IP1,IP2,... --pairs P [--close-wait K]
Prints one `ready ...` line once its state is set up, holds it for --hold SECS (default
60) or until killed, then exits 0. Errors: one line on stderr, exit 1.";

/// Options that take no value; every other option takes exactly one.
const FLAGS: &[&str] = &["--keepalive"];
/// Upper bound of accept loops (closer, sink): far above anything a test opens, so the
/// loop ends by the hold time in practice, but it is bounded all the same.
const MAX_ACCEPTS: usize = 1_000_000;
/// A connect that takes longer than this on loopback means something is wrong.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "-h" || args[0] == "--help" {
        if args.is_empty() {
            eprintln!("{USAGE}");
            std::process::exit(1);
        }
        println!("{USAGE}");
        return;
    }
    if let Err(e) = run(args) {
        die(&e);
    }
}

/// The one way out on error, from main or from any thread: one line, exit 1.
fn die(msg: &str) -> ! {
    eprintln!("misbehave: {msg}");
    std::process::exit(1);
}

fn run(args: Vec<String>) -> Res<()> {
    let mut o = Opts::parse(args)?;
    let hold = Duration::from_secs(o.num_or("--hold", 60)?);
    match o.mode.as_str() {
        "listen" => listen(o, hold),
        "burst" => burst(o, hold),
        "closer" => closer(o, hold),
        "leaky" => leaky(o, hold),
        "sink" => sink(o, hold),
        "source" => source(o, hold),
        "selfloop" => selfloop(o, hold),
        "farm" => farm(o, hold),
        m => Err(format!("unknown mode {m:?}\n{USAGE}")),
    }
}

/// Prints the single ready line (`pid=` last) and flushes it: the caller reads it from
/// a pipe and acts at once.
fn ready(facts: &str) {
    let mut out = io::stdout().lock();
    let line = format!("ready {facts} pid={}", std::process::id());
    // A reader that went away is no reason to stop holding the state.
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

// ---------------------------------------------------------------------------------------
// Modes

/// Incident 1 (accept queue overflow): a listener with exactly `--backlog N` (through
/// libc: std's TcpListener::bind chooses the backlog itself) that never calls accept().
/// The kernel queues N+1 connections, then drops SYNs and counts
/// ListenOverflows/ListenDrops. N = -1 asks for net.core.somaxconn.
fn listen(mut o: Opts, hold: Duration) -> Res<()> {
    let addr = o.addr("--addr")?;
    let backlog: libc::c_int = o.num("--backlog")?;
    o.finish()?;
    raise_nofile(0)?;
    let l = listener(addr, backlog, None)?;
    ready(&format!("listen={} backlog={backlog}", local_addr(&l)?));
    thread::sleep(hold);
    drop(l);
    Ok(())
}

/// Incident 1, the clients: M connects to A, non-blocking so that a full accept queue
/// (SYNs dropped, the client stuck in SYN-SENT retransmitting) does not block us. Every
/// socket stays open and silent.
fn burst(mut o: Opts, hold: Duration) -> Res<()> {
    let to = o.addr("--to")?;
    let count: usize = o.num("--count")?;
    o.finish()?;
    require_nofile(count as u64 + 64)?;
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let fd = tcp_socket(&to, true)?;
        connect_started(&fd, &to)?;
        held.push(fd);
    }
    ready(&format!("issued={}", held.len()));
    thread::sleep(hold);
    Ok(())
}

/// Incident 3, the peers that "scaled away": listen on each address, accept every
/// connection and close it at once (a FIN, since the client sent nothing).
fn closer(mut o: Opts, hold: Duration) -> Res<()> {
    let addrs = o.addrs("--addr")?;
    o.finish()?;
    raise_nofile(0)?;
    let mut shown = Vec::new();
    for addr in addrs {
        let l = listener(addr, 4096, None)?;
        shown.push(local_addr(&l)?.to_string());
        thread::spawn(move || {
            for _ in 0..MAX_ACCEPTS {
                match l.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(e) => die(&format!("closer: accept: {e}")),
                }
            }
        });
    }
    ready(&format!("listen={}", shown.join(",")));
    thread::sleep(hold);
    Ok(())
}

/// Incident 3, the leaking client SDK: K connections to each peer, never read, never
/// closed. When the peer closes (closer), each socket stays in CLOSE-WAIT for as long as
/// this process lives. Without --keepalive no timer is armed on them, as in the incident;
/// with it SO_KEEPALIVE is on, but TCP_KEEPIDLE=600 so no probe fires during a test.
fn leaky(mut o: Opts, hold: Duration) -> Res<()> {
    let peers = o.addrs("--to")?;
    let per_peer: usize = o.num("--per-peer")?;
    let keepalive = o.flag("--keepalive");
    o.finish()?;
    require_nofile((peers.len() * per_peer) as u64 + 64)?;
    let mut conns = Vec::with_capacity(peers.len() * per_peer);
    for peer in &peers {
        for _ in 0..per_peer {
            let s = TcpStream::connect_timeout(peer, CONNECT_TIMEOUT)
                .map_err(|e| format!("leaky: connect to {peer}: {e}"))?;
            if keepalive {
                // The idle time first: SO_KEEPALIVE arms the timer with the current one.
                set_int(s.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 600)?;
                set_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
            }
            conns.push(s);
        }
    }
    // Give the peers' FINs a moment to arrive, so that against `closer` the sockets are
    // already CLOSE-WAIT when we say ready. POLLRDHUP reports a FIN without reading.
    wait_all(&conns, libc::POLLRDHUP, Duration::from_secs(1))?;
    ready(&format!("conns={}", conns.len()));
    thread::sleep(hold);
    Ok(())
}

/// Incidents 2 and 4, the reader that stopped calling recv(): accept connections and
/// hold them unread. `--rcvbuf` is set on the listener before listen(), so accepted
/// sockets inherit it and the window closes after a few KB.
fn sink(mut o: Opts, hold: Duration) -> Res<()> {
    let addr = o.addr("--addr")?;
    let rcvbuf: Option<libc::c_int> = o.num_opt("--rcvbuf")?;
    o.finish()?;
    raise_nofile(0)?;
    let l = listener(addr, 4096, rcvbuf)?;
    let shown = local_addr(&l)?;
    thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..MAX_ACCEPTS {
            match l.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(e) => die(&format!("sink: accept: {e}")),
            }
        }
        thread::sleep(hold);
    });
    ready(&format!("listen={shown}"));
    thread::sleep(hold);
    Ok(())
}

/// Incidents 2 and 4, the sender facing a closed window: write until the connection
/// takes no more (or `--bytes N` in total), then keep it open and write nothing. Against
/// `sink`, Send-Q stays full, the peer advertises a zero window and the kernel probes it
/// (the persist timer).
///
/// "Takes no more" is not the first EAGAIN: that only says our send buffer is full while
/// the peer may still have window, and the buffer would then drain to Send-Q 0. So after
/// EAGAIN we wait for POLLOUT and write again; once the socket stays unwritable for 300 ms
/// the peer's window is closed. Bounded by N bytes and 10 s (a peer that does read).
fn source(mut o: Opts, hold: Duration) -> Res<()> {
    let to = o.addr("--to")?;
    let bytes: u64 = o.num("--bytes")?;
    o.finish()?;
    raise_nofile(0)?;
    let mut s = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)
        .map_err(|e| format!("source: connect to {to}: {e}"))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("source: O_NONBLOCK: {e}"))?;
    let chunk = [b'x'; 64 * 1024];
    let mut written = 0u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while written < bytes && Instant::now() < deadline {
        let n = (bytes - written).min(chunk.len() as u64) as usize;
        match s.write(&chunk[..n]) {
            Ok(k) => written += k as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait_all(
                    std::slice::from_ref(&s),
                    libc::POLLOUT,
                    Duration::from_millis(300),
                )? {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("source: write to {to}: {e}")),
        }
    }
    let mut sendq: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int (bytes not yet acknowledged) into sendq.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut sendq) } < 0 {
        return Err(os_err("source: ioctl(TIOCOUTQ)"));
    }
    ready(&format!("written={written} sendq={sendq}"));
    thread::sleep(hold);
    Ok(())
}

/// Incident 5, the proxy looping to itself: a connector opens connections to our own
/// listener at `--rate R` per second (`--max N` in total), as the retrying client did;
/// each one accepted makes the process open one more connection to its own address, as
/// the proxy forwarding to itself did. That loop is one level deep, as in the incident:
/// the far end of a loop connection opens nothing (else one request would spin until N).
/// Every connection, both ends, is closed about 1 s after it was opened, so about R
/// client and R loop connections are open at a time and TIME-WAIT grows by ~2R a second.
fn selfloop(mut o: Opts, hold: Duration) -> Res<()> {
    let addr = o.addr("--addr")?;
    let rate: u64 = o.num("--rate")?;
    let max: u64 = o.num("--max")?;
    o.finish()?;
    if rate == 0 || max == 0 {
        return Err("selfloop: --rate and --max must be at least 1".into());
    }
    // Open at a time: R client + R loop connections, two ends each; double for slack.
    raise_nofile(8 * rate.min(max) + 64)?;
    let l = listener(addr, 4096, None)?;
    let local = local_addr(&l)?;
    let target = connectable(local);
    let reap: Reap = Arc::new(Mutex::new(VecDeque::new()));
    let (first_loop, first_loop_seen) = mpsc::channel();

    let reap_a = reap.clone();
    thread::spawn(move || {
        // Local ports of our loop connections not yet accepted: how the acceptor tells
        // the far end of its own loop from a client. It alone inserts and removes them.
        let mut loop_ports = HashSet::new();
        let mut loops = 0u64;
        for _ in 0..2 * max {
            let (conn, peer) = l
                .accept()
                .unwrap_or_else(|e| die(&format!("selfloop: accept: {e}")));
            push(&reap_a, conn);
            if loop_ports.remove(&peer.port()) || loops == max {
                continue;
            }
            let conn = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)
                .unwrap_or_else(|e| die(&format!("selfloop: loop connect to {target}: {e}")));
            let port = conn
                .local_addr()
                .unwrap_or_else(|e| die(&format!("selfloop: getsockname: {e}")))
                .port();
            loop_ports.insert(port);
            push(&reap_a, conn);
            loops += 1;
            if loops == 1 {
                let _ = first_loop.send(());
            }
        }
    });

    let reap_c = reap.clone();
    thread::spawn(move || {
        let start = Instant::now();
        for i in 0..max {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let conn = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)
                .unwrap_or_else(|e| die(&format!("selfloop: connect to {target}: {e}")));
            push(&reap_c, conn);
        }
    });

    thread::spawn(move || {
        let end = Instant::now() + hold;
        while Instant::now() < end {
            let mut q = reap.lock().unwrap_or_else(|p| p.into_inner());
            while q
                .front()
                .is_some_and(|(opened, _)| opened.elapsed() >= Duration::from_secs(1))
            {
                q.pop_front();
            }
            drop(q);
            thread::sleep(Duration::from_millis(10));
        }
    });

    first_loop_seen
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "selfloop: no loop connection within 10 s".to_string())?;
    ready(&format!("listen={local} rate={rate} max={max}"));
    thread::sleep(hold);
    Ok(())
}

/// Connections waiting to be closed ~1 s after they were opened, oldest first.
type Reap = Arc<Mutex<VecDeque<(Instant, TcpStream)>>>;

fn push(reap: &Reap, conn: TcpStream) {
    let mut q = reap.lock().unwrap_or_else(|p| p.into_inner());
    q.push_back((Instant::now(), conn));
}

/// The benchmark's socket farm: P established pairs to our own listener, both ends held
/// here, clients bound to the `--from` addresses in turn. With `--close-wait K`, the
/// server ends of K pairs are shut down for writing, so K clients sit in CLOSE-WAIT (their
/// peers in FIN-WAIT-2, held, so no timer reaps them).
///
/// One process holds every socket when RLIMIT_NOFILE can be raised to 2P + 64. Where the
/// hard limit cannot be raised (no CAP_SYS_RESOURCE, as in many containers) the pairs are
/// split over worker processes forked one after the other, each within the limit and
/// holding both ends of its pairs; they die with this process (PR_SET_PDEATHSIG). The
/// ready line says how many processes hold the sockets (`procs=`).
fn farm(mut o: Opts, hold: Duration) -> Res<()> {
    let started = Instant::now();
    let addr = o.addr("--listen")?;
    let from: Vec<IpAddr> = o
        .req("--from")?
        .split(',')
        .map(|s| {
            IpAddr::from_str(s.trim()).map_err(|_| format!("--from: {s:?} is not an IP address"))
        })
        .collect::<Res<_>>()?;
    let pairs: usize = o.num("--pairs")?;
    let close_wait: usize = o.num_or("--close-wait", 0)?;
    o.finish()?;
    if close_wait > pairs {
        return Err(format!("farm: --close-wait {close_wait} > --pairs {pairs}"));
    }
    let limit = raise_nofile(2 * pairs as u64 + 64)?;
    let per_proc = (limit.saturating_sub(64) / 2) as usize;
    if per_proc == 0 {
        return Err(format!("farm: RLIMIT_NOFILE {limit} is too low"));
    }
    // The kernel caps the backlog at net.core.somaxconn; the batches below fit that.
    let l = listener(addr, 65535, None)?;
    l.set_nonblocking(true)
        .map_err(|e| format!("farm: O_NONBLOCK: {e}"))?;
    let local = local_addr(&l)?;
    let target = connectable(local);
    if let Some(ip) = from.iter().find(|ip| ip.is_ipv4() != target.is_ipv4()) {
        return Err(format!(
            "farm: --from {ip} is not of the family of {target}"
        ));
    }
    // A batch must fit the accept queue, or SYNs are dropped and wait 1 s to be resent.
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(128);
    let job = FarmJob {
        listener: &l,
        batch: somaxconn.clamp(1, 1024),
        target,
        from: &from,
        close_wait,
        deadline: started + Duration::from_secs(120),
    };
    let mut held = None;
    let mut procs = 1;
    if pairs <= per_proc {
        held = Some(job.build(0..pairs)?);
    } else {
        procs = 0;
        for start in (0..pairs).step_by(per_proc) {
            fork_worker(&job, start..(start + per_proc).min(pairs), hold)?;
            procs += 1;
        }
    }
    ready(&format!(
        "sockets={} pairs={pairs} close_wait={close_wait} listen={local} procs={procs} build_ms={}",
        2 * pairs + 1,
        started.elapsed().as_millis()
    ));
    thread::sleep(hold);
    drop(held);
    Ok(())
}

/// What every part of the farm shares: the listener, where to connect from and to.
struct FarmJob<'a> {
    listener: &'a TcpListener,
    /// Connects issued before their accepts: at most the listener's backlog.
    batch: usize,
    target: SocketAddr,
    from: &'a [IpAddr],
    /// Pairs whose global index is below this get their server end shut down.
    close_wait: usize,
    deadline: Instant,
}

/// Both ends of some pairs of the farm.
struct Held {
    _clients: Vec<OwnedFd>,
    _servers: Vec<TcpStream>,
}

impl FarmJob<'_> {
    /// Builds the pairs numbered `range`, checks them, and returns them to be held.
    ///
    /// Fast because nothing waits per connection: non-blocking connects in batches (1,024,
    /// or the backlog if smaller), the accept queue drained after each batch (so it never
    /// overflows), and
    /// IP_BIND_ADDRESS_NO_PORT, so the source port is chosen at connect() by the whole
    /// 4-tuple instead of reserved at bind(), which would search the bound-port table
    /// each time and allow only one socket per source port.
    fn build(&self, range: Range<usize>) -> Res<Held> {
        let first = range.start;
        let mut clients: Vec<OwnedFd> = Vec::with_capacity(range.len());
        let mut servers: Vec<TcpStream> = Vec::with_capacity(range.len());
        while clients.len() < range.len() {
            let end = (clients.len() + self.batch).min(range.len());
            while clients.len() < end {
                let n = first + clients.len();
                let src = SocketAddr::new(self.from[n % self.from.len()], 0);
                let fd = tcp_socket(&self.target, true)?;
                set_int(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    1,
                )?;
                bind(&fd, &src)?;
                connect_started(&fd, &self.target).map_err(|e| {
                    format!("farm: pair {n}: {e} (out of ports? widen net.ipv4.ip_local_port_range or give more --from addresses)")
                })?;
                clients.push(fd);
            }
            // Accept the whole batch before the next one.
            while servers.len() < clients.len() {
                self.check_deadline(|| {
                    format!(
                        "{} of {} connections accepted",
                        servers.len(),
                        clients.len()
                    )
                })?;
                match self.listener.accept() {
                    Ok((conn, _)) => servers.push(conn),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait_all(
                            std::slice::from_ref(self.listener),
                            libc::POLLIN,
                            Duration::from_millis(100),
                        )?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("farm: accept: {e}")),
                }
            }
        }
        for (i, fd) in clients.iter().enumerate() {
            let err = get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR)?;
            let state = tcp_state(fd.as_raw_fd())?;
            if err != 0 || state != TCP_ESTABLISHED {
                return Err(format!(
                    "farm: pair {} not established: SO_ERROR {err} ({}), state {state}",
                    first + i,
                    io::Error::from_raw_os_error(err)
                ));
            }
        }
        // Which server end belongs to which client does not matter: any K of them.
        let shut = self.close_wait.clamp(first, range.end) - first;
        for s in &servers[..shut] {
            s.shutdown(std::net::Shutdown::Write)
                .map_err(|e| format!("farm: shutdown: {e}"))?;
        }
        // The FINs cross loopback at once; wait (bounded) until every one has arrived.
        loop {
            let mut in_close_wait = 0;
            for fd in &clients {
                if tcp_state(fd.as_raw_fd())? == TCP_CLOSE_WAIT {
                    in_close_wait += 1;
                }
            }
            if in_close_wait == shut {
                break;
            }
            self.check_deadline(|| format!("{in_close_wait} of {shut} clients in CLOSE-WAIT"))?;
            thread::sleep(Duration::from_millis(10));
        }
        Ok(Held {
            _clients: clients,
            _servers: servers,
        })
    }

    fn check_deadline(&self, progress: impl Fn() -> String) -> Res<()> {
        if Instant::now() > self.deadline {
            return Err(format!("farm: still not done after 120 s: {}", progress()));
        }
        Ok(())
    }
}

/// Forks a worker that builds the pairs `range` and holds them for `hold`; returns once
/// it has said they are all established (or fails with what went wrong). The farm starts
/// no thread, so the child is a complete copy. It dies with us: PR_SET_PDEATHSIG.
fn fork_worker(job: &FarmJob, range: Range<usize>, hold: Duration) -> Res<()> {
    let mut ends = [0; 2];
    // SAFETY: ends is a valid array of two ints for the kernel to fill.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(os_err("pipe2"));
    }
    // SAFETY: two fresh descriptors nobody else owns.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    // SAFETY: getpid/fork have no preconditions; the process is single-threaded here.
    let parent = unsafe { libc::getpid() };
    match unsafe { libc::fork() } {
        -1 => Err(os_err("fork")),
        0 => {
            drop(read_end);
            // SAFETY: prctl/getppid/_exit have no memory preconditions.
            unsafe {
                // If the parent died before this line, PDEATHSIG never comes: check.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            let built = job.build(range);
            let answer = match &built {
                Ok(_) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            let _ = std::fs::File::from(write_end).write_all(answer.as_bytes());
            if built.is_ok() {
                thread::sleep(hold);
            }
            // _exit: nothing of the parent's (stdout buffer, atexit) runs twice.
            // SAFETY: ends this process; the kernel closes its sockets.
            unsafe { libc::_exit(if built.is_ok() { 0 } else { 1 }) }
        }
        pid => {
            drop(write_end);
            let mut answer = String::new();
            // Ends at EOF: the worker closed its end after answering, or died.
            let _ = std::fs::File::from(read_end).read_to_string(&mut answer);
            match answer.as_str() {
                "ok" => Ok(()),
                "" => Err(format!("farm: worker {pid} died before building its pairs")),
                e => Err(e.to_string()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sockets through libc, where std cannot say what we need (exact backlog, options before
// listen(), non-blocking connect, bind without a port).

const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE_WAIT: u8 = 8;

fn os_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

fn tcp_socket(like: &SocketAddr, nonblock: bool) -> Res<OwnedFd> {
    let family = if like.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let flags = libc::SOCK_CLOEXEC | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | flags, 0) };
    if fd < 0 {
        return Err(os_err("socket"));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> Res<()> {
    // SAFETY: value lives across the call; the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(os_err(&format!("setsockopt({level}, {name}, {value})")));
    }
    Ok(())
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Res<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len live across the call and describe the same buffer.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(os_err(&format!("getsockopt({level}, {name})")));
    }
    Ok(value)
}

/// The state byte, the first field of struct tcp_info (include/net/tcp_states.h numbers).
fn tcp_state(fd: RawFd) -> Res<u8> {
    let mut info = [0u8; 8];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: the kernel copies at most len bytes into info.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(os_err("getsockopt(TCP_INFO)"));
    }
    Ok(info[0])
}

/// A SocketAddr as the sockaddr_in/sockaddr_in6 the kernel takes.
fn raw_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn bind(fd: &OwnedFd, addr: &SocketAddr) -> Res<()> {
    let (sa, len) = raw_addr(addr);
    // SAFETY: sa is a valid sockaddr of length len.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    } < 0
    {
        return Err(os_err(&format!("bind {addr}")));
    }
    Ok(())
}

/// connect() on a non-blocking socket: started (EINPROGRESS) or done is success.
fn connect_started(fd: &OwnedFd, to: &SocketAddr) -> Res<()> {
    let (sa, len) = raw_addr(to);
    // SAFETY: sa is a valid sockaddr of length len.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(format!("connect to {to}: {e}"));
        }
    }
    Ok(())
}

/// A listener with exactly this backlog (the kernel still caps it at net.core.somaxconn),
/// SO_REUSEADDR (a rerun must not wait for TIME-WAIT), and SO_RCVBUF set before listen()
/// when asked, so accepted sockets inherit it.
fn listener(
    addr: SocketAddr,
    backlog: libc::c_int,
    rcvbuf: Option<libc::c_int>,
) -> Res<TcpListener> {
    let fd = tcp_socket(&addr, false)?;
    set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if let Some(bytes) = rcvbuf {
        set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)?;
    }
    bind(&fd, &addr)?;
    // SAFETY: plain listen(2) on a socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } < 0 {
        return Err(os_err(&format!("listen {addr}")));
    }
    Ok(TcpListener::from(fd))
}

fn local_addr(l: &TcpListener) -> Res<SocketAddr> {
    l.local_addr().map_err(|e| format!("getsockname: {e}"))
}

/// Where to connect to reach a listener: a wildcard address means this host's loopback.
fn connectable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    addr
}

/// Waits until every socket reports `event`, at most `limit`; true if all did.
fn wait_all<S: AsRawFd>(socks: &[S], event: libc::c_short, limit: Duration) -> Res<bool> {
    let deadline = Instant::now() + limit;
    let mut pending: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: event,
            revents: 0,
        })
        .collect();
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // SAFETY: pending is a valid array of pending.len() pollfd.
        let n = unsafe {
            libc::poll(
                pending.as_mut_ptr(),
                pending.len() as libc::nfds_t,
                left.as_millis().max(1) as libc::c_int,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
        pending.retain(|p| p.revents & event == 0);
        for p in &mut pending {
            p.revents = 0;
        }
    }
    Ok(true)
}

/// Raises RLIMIT_NOFILE to `needed` descriptors if it can, and at least to the hard limit;
/// returns the limit now in force. Above the hard limit only a process with
/// CAP_SYS_RESOURCE can go (up to fs.nr_open), which containers often lack.
fn raise_nofile(needed: u64) -> Res<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(os_err("getrlimit(RLIMIT_NOFILE)"));
    }
    let hard = lim.rlim_max;
    for want in [needed, hard] {
        if want < hard {
            continue;
        }
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: new is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return Ok(want);
        }
    }
    Err(os_err(&format!("setrlimit(RLIMIT_NOFILE, {hard})")))
}

/// raise_nofile for a mode that cannot work with fewer than `needed` descriptors.
fn require_nofile(needed: u64) -> Res<()> {
    let got = raise_nofile(needed)?;
    if got < needed {
        return Err(format!(
            "needs {needed} open files, but RLIMIT_NOFILE is {got} and cannot be raised (no CAP_SYS_RESOURCE)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Arguments, by hand: MODE, then `--name value` pairs and value-less FLAGS. Each mode
// takes the options it knows; anything left over is an error, so a typo never passes.

struct Opts {
    mode: String,
    given: Vec<(String, Option<String>)>,
}

impl Opts {
    fn parse(args: Vec<String>) -> Res<Self> {
        let mut it = args.into_iter();
        let mode = it.next().ok_or("no mode given")?;
        let mut given = Vec::new();
        while let Some(name) = it.next() {
            if !name.starts_with("--") {
                return Err(format!("unexpected argument {name:?}"));
            }
            if FLAGS.contains(&name.as_str()) {
                given.push((name, None));
            } else {
                let value = it.next().ok_or_else(|| format!("{name} needs a value"))?;
                given.push((name, Some(value)));
            }
        }
        Ok(Self { mode, given })
    }

    /// Every value of a repeatable option, removing them.
    fn all(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.given.retain(|(n, v)| {
            if n == name {
                out.extend(v.clone());
                false
            } else {
                true
            }
        });
        out
    }

    fn opt(&mut self, name: &str) -> Res<Option<String>> {
        let mut values = self.all(name);
        if values.len() > 1 {
            return Err(format!("{name} given more than once"));
        }
        Ok(values.pop())
    }

    fn req(&mut self, name: &str) -> Res<String> {
        self.opt(name)?
            .ok_or_else(|| format!("{} needs {name}", self.mode))
    }

    fn flag(&mut self, name: &str) -> bool {
        let before = self.given.len();
        self.given.retain(|(n, _)| n != name);
        self.given.len() != before
    }

    fn num_opt<T: FromStr>(&mut self, name: &str) -> Res<Option<T>> {
        self.opt(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{name}: {v:?} is not a valid number"))
            })
            .transpose()
    }

    fn num<T: FromStr>(&mut self, name: &str) -> Res<T> {
        self.num_opt(name)?
            .ok_or_else(|| format!("{} needs {name}", self.mode))
    }

    fn num_or<T: FromStr>(&mut self, name: &str, default: T) -> Res<T> {
        Ok(self.num_opt(name)?.unwrap_or(default))
    }

    fn addr(&mut self, name: &str) -> Res<SocketAddr> {
        let v = self.req(name)?;
        v.parse()
            .map_err(|_| format!("{name}: {v:?} is not a socket address (127.0.0.1:80, [::1]:80)"))
    }

    /// A repeatable address option, at least once.
    fn addrs(&mut self, name: &str) -> Res<Vec<SocketAddr>> {
        let values = self.all(name);
        if values.is_empty() {
            return Err(format!("{} needs {name}", self.mode));
        }
        values
            .iter()
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{name}: {v:?} is not a socket address"))
            })
            .collect()
    }

    fn finish(self) -> Res<()> {
        match self.given.first() {
            None => Ok(()),
            Some((n, _)) => Err(format!("{}: unknown option {n}", self.mode)),
        }
    }
}
