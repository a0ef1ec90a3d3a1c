//! Whether the kernel accepts a text written to a key, and what it then stores: the
//! kernel's own parsing, per handler, as kernel/sysctl.c (v6.1 to v6.18) does it, and
//! proven on the real kernel by tests/kernel_accept.rs, which writes the same strings in
//! a throwaway network namespace and compares.
//!
//! Every handler reads integers with proc_get_long():
//! - leading whitespace (isspace: space, \t, \n, \v, \f, \r) is skipped;
//! - an optional `-`, then a digit must follow (`+5`, `"5"`, `x` are EINVAL);
//! - the base is C's: `0x1f` is hex, `010` is octal (8), `08` stops after `0`;
//! - the number and its sign may take at most 20 bytes (TMPBUFLEN - 2), and must not
//!   overflow 64 bits;
//! - the byte after the number must be a space, a tab, a newline, or the end: `7#x`,
//!   `7,8` and `7abc` are EINVAL, while `7 # note` stores 7.
//!
//! Once a key's fields are read the rest of the text is ignored (`1 2` stores 1 in a
//! one-field key). A vector key (tcp_rmem) stores each field as it is read, so a write
//! with fewer fields changes only those, and a write that fails at its third field has
//! already stored the first two. ip_local_port_range reads into a copy and stores both
//! or nothing.
//!
//! Loaders write the value as the file holds it (trimmed, quotes kept: neither procps
//! nor systemd-sysctl strips them) followed by a newline.

use super::Shape;

/// The kernel's handler for a key (its `proc_handler`), which decides how a written
/// text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// proc_dointvec / proc_dointvec_minmax: ints (−2^31..2^31−1), each checked against
    /// the shape's bounds.
    Int,
    /// proc_dointvec_jiffies: seconds, kept as seconds × HZ in an int, so the kernel
    /// refuses a magnitude above INT_MAX / HZ; negative values are stored.
    Jiffies,
    /// proc_dou8vec_minmax: one unsigned value; any `-` (even `-0`) is EINVAL; 0..=255
    /// unless the shape is narrower.
    U8,
    /// proc_doulongvec_minmax: unsigned longs; any `-` is EINVAL.
    ULong,
    /// ipv4_local_port_range: two ints in 1..=65535 read into a copy, stored only if
    /// low <= high and low >= net.ipv4.ip_unprivileged_port_start.
    PortRange,
}

/// The HZ tuneguard checks jiffies keys with. The kernel does not export HZ; 1000 gives
/// the smallest limit among the values Linux is built with (100, 250, 300, 1000), so a
/// value tuneguard accepts is accepted by every build: INT_MAX / 1000 = 2147483 seconds
/// (24.8 days). A kernel built with HZ=250 (Debian's) also accepts up to 8589934.
pub const HZ: u32 = 1000;

/// ip_unprivileged_port_start's default; ip_local_port_range's low port may not be
/// below it.
pub const UNPRIVILEGED_PORT_START: i64 = 1024;

/// What one write does to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The key's fields after the write; None when they are not known (a partial
    /// write onto an unknown value).
    pub value: Option<Vec<i64>>,
    /// Why the kernel refused the write (EINVAL), if it did. Fields read before the
    /// error may still have been stored (see `value`).
    pub error: Option<String>,
    /// Whether the write stored anything.
    pub stored: bool,
}

/// One write of `text` (as the file holds it; the loader adds the newline) to a key of
/// `shape` whose value was `prev`, on a kernel with `hz`.
pub fn write(shape: &Shape, prev: Option<&[i64]>, text: &str, hz: u32) -> Outcome {
    let mut buf = text.as_bytes().to_vec();
    buf.push(b'\n');
    // __do_proc_dointvec reads at most PAGE_SIZE - 1 bytes.
    buf.truncate(4095);
    let n = shape.fields as usize;
    let mut read: Vec<i64> = Vec::new();
    let mut error = None;
    let mut s: &[u8] = &buf;
    while read.len() < n {
        s = skip_spaces(s);
        if s.is_empty() {
            break;
        }
        match get_long(s).and_then(|(neg, mag, len)| convert(shape, neg, mag, hz).map(|v| (v, len)))
        {
            Ok((v, len)) => {
                read.push(v);
                s = &s[len..];
            }
            Err(why) => {
                error = Some(why);
                break;
            }
        }
        if matches!(shape.handler, Handler::U8) {
            break;
        }
    }
    if read.is_empty() && error.is_none() {
        error = Some("there is no number to write".into());
    }
    let merged = |read: &[i64]| -> Option<Vec<i64>> {
        if read.len() == n {
            return Some(read.to_vec());
        }
        let prev = prev.filter(|p| p.len() == n)?;
        Some(read.iter().chain(&prev[read.len()..]).copied().collect())
    };
    if shape.handler == Handler::PortRange {
        // All or nothing, checked on the whole pair (a one-field write keeps the high
        // port).
        if error.is_none() {
            if let Some(pair) = merged(&read) {
                if pair[1] < pair[0] {
                    error = Some(format!(
                        "{} is above {}: the fields must be in ascending order (low port first)",
                        pair[0], pair[1]
                    ));
                } else if pair[0] < UNPRIVILEGED_PORT_START {
                    error = Some(format!(
                        "the low port {} is below net.ipv4.ip_unprivileged_port_start ({UNPRIVILEGED_PORT_START})",
                        pair[0]
                    ));
                }
            }
        }
        return match error {
            Some(e) => Outcome {
                value: prev.map(<[i64]>::to_vec),
                error: Some(e),
                stored: false,
            },
            None => Outcome {
                value: merged(&read),
                error: None,
                stored: true,
            },
        };
    }
    Outcome {
        value: if read.is_empty() {
            prev.map(<[i64]>::to_vec)
        } else {
            merged(&read)
        },
        stored: !read.is_empty(),
        error,
    }
}

/// The fields a text sets when the kernel accepts all of it: Err with the kernel's
/// reason otherwise, or when it sets fewer fields than the key has.
pub fn accepts(shape: &Shape, text: &str, hz: u32) -> Result<Vec<i64>, String> {
    let o = write(shape, None, text, hz);
    match (o.error, o.value) {
        (Some(e), _) => Err(e),
        (None, Some(v)) => Ok(v),
        (None, None) => Err(format!(
            "it sets only some of the {} fields, so the result depends on the value before",
            shape.fields
        )),
    }
}

/// The kernel's isspace(): space, \t, \n, \v, \f, \r, and Latin-1's no-break space.
fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0))
        .count();
    &s[n..]
}

/// proc_get_long(): (negative, magnitude, bytes read) of the number at the start of `s`.
fn get_long(s: &[u8]) -> Result<(bool, u64, usize), String> {
    const TMPBUFLEN: usize = 22;
    let tmp = &s[..s.len().min(TMPBUFLEN - 1)];
    let neg = tmp.first() == Some(&b'-') && s.len() > 1;
    let mut i = usize::from(neg);
    let bad = || {
        let shown: String = String::from_utf8_lossy(s)
            .trim_end()
            .chars()
            .take(24)
            .collect();
        format!("`{shown}` is not a number the kernel reads")
    };
    if !tmp.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(bad());
    }
    let base = if tmp[i] == b'0'
        && tmp
            .get(i + 1)
            .is_some_and(|c| c.eq_ignore_ascii_case(&b'x'))
        && tmp.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        16
    } else if tmp[i] == b'0' {
        8
    } else {
        10
    };
    let mut mag: u64 = 0;
    while let Some(d) = tmp.get(i).and_then(|c| char::from(*c).to_digit(base)) {
        mag = mag
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
            .ok_or_else(|| "the number overflows 64 bits".to_string())?;
        i += 1;
    }
    if i == TMPBUFLEN - 1 {
        return Err("the number is longer than the 20 bytes the kernel reads".into());
    }
    if i < s.len() && !matches!(s[i], b' ' | b'\t' | b'\n') {
        return Err(bad());
    }
    Ok((neg, mag, i))
}

/// The handler's conversion and bounds for one field.
fn convert(shape: &Shape, neg: bool, mag: u64, hz: u32) -> Result<i64, String> {
    let signed = || if neg { -(mag as i128) } else { mag as i128 };
    let v: i128 = match shape.handler {
        Handler::Int | Handler::PortRange => {
            if (neg && mag > 1 << 31) || (!neg && mag > i32::MAX as u64) {
                return Err(format!("{} is outside the kernel's int range", signed()));
            }
            signed()
        }
        Handler::Jiffies => {
            let limit = (i32::MAX / hz as i32) as u64;
            if mag > limit {
                return Err(format!(
                    "{} seconds does not fit the kernel's jiffies: the limit is INT_MAX/HZ, {limit} with HZ={hz}{}",
                    signed(),
                    if hz == HZ { " (the smallest of any kernel build)" } else { "" }
                ));
            }
            signed()
        }
        Handler::U8 | Handler::ULong => {
            if neg {
                return Err("the kernel takes no sign for this key".into());
            }
            if shape.handler == Handler::U8 && mag > u32::MAX as u64 {
                return Err(format!("{mag} is outside the kernel's unsigned int range"));
            }
            if mag > i64::MAX as u64 {
                return Err(format!("{mag} is beyond what tuneguard represents"));
            }
            mag as i128
        }
    };
    let (min, max) = shape.bounds_at(hz);
    if v < min as i128 || v > max as i128 {
        return Err(format!("{v} is out of range ({min}..{max})"));
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shapes the catalog gives its keys.
    use crate::catalog::keys::{BUFFER_TRIPLE as TRIPLE, INT_GE0, U8};

    fn ok(shape: &Shape, text: &str) -> Option<Vec<i64>> {
        accepts(shape, text, 250).ok()
    }

    #[test]
    fn integers_as_proc_get_long_reads_them() {
        assert_eq!(ok(&INT_GE0, "8192"), Some(vec![8192]));
        assert_eq!(ok(&INT_GE0, "\"16384\""), None);
        assert_eq!(ok(&INT_GE0, "0x10"), Some(vec![16]));
        assert_eq!(ok(&INT_GE0, "010"), Some(vec![8]));
        assert_eq!(ok(&INT_GE0, "08"), None);
        assert_eq!(ok(&INT_GE0, "+5"), None);
        assert_eq!(ok(&INT_GE0, "-0"), Some(vec![0]));
        assert_eq!(ok(&INT_GE0, "7 # note"), Some(vec![7]));
        assert_eq!(ok(&INT_GE0, "7#x"), None);
        assert_eq!(ok(&INT_GE0, "1 2"), Some(vec![1]));
        assert_eq!(ok(&INT_GE0, "2147483648"), None);
        assert_eq!(ok(&INT_GE0, "00000000000000000001"), Some(vec![1]));
        assert_eq!(ok(&INT_GE0, "000000000000000000001"), None);
        assert_eq!(ok(&U8, "-0"), None);
        assert_eq!(ok(&U8, "0377"), Some(vec![255]));
        assert_eq!(ok(&U8, "256"), None);
    }

    #[test]
    fn a_vector_keeps_what_it_read_before_an_error() {
        let o = write(&TRIPLE, Some(&[1, 2, 3]), "5 6 x", 250);
        assert_eq!(o.value, Some(vec![5, 6, 3]));
        assert!(o.error.is_some() && o.stored);
        let o = write(&TRIPLE, Some(&[1, 2, 3]), "4096 131072", 250);
        assert_eq!((o.value, o.error), (Some(vec![4096, 131072, 3]), None));
        assert_eq!(write(&TRIPLE, None, "4096 131072", 250).value, None);
    }
}
