//! Only the value's bytes change: an edited line keeps its key's spelling, `-` prefix,
//! spacing, the note after the value, CR and line end, byte for byte.

use std::collections::BTreeMap;

/// Replaces the value of the given lines (1-based) and nothing else: the bytes before the
/// value (key, `-`, spacing, `=`) and after it (trailing spaces, CR) are kept.
pub fn set_values(bytes: &[u8], lines: &BTreeMap<usize, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        match lines.get(&(i + 1)) {
            Some(v) => out.extend_from_slice(&replace_value(line, v)),
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// `line` with its value's bytes replaced by `value`. The value starts after `=` and
/// its spaces, and ends after as many whitespace-separated fields as `value` has, or
/// before a field starting with `#` or `;`: both loaders hand the kernel the whole rest
/// of the line (`600 #note`), and the kernel reads the fields it takes and ignores the
/// rest (tests/persisted_oracle.rs), so a note after the value stays, byte for byte,
/// and still changes nothing.
fn replace_value(line: &[u8], value: &str) -> Vec<u8> {
    let Some(eq) = line.iter().position(|&b| b == b'=') else {
        return line.to_vec();
    };
    let blank = |b: &u8| b.is_ascii_whitespace();
    let start = eq + 1 + line[eq + 1..].iter().take_while(|b| blank(b)).count();
    let fields = value.split_whitespace().count().max(1);
    let mut end = start;
    let mut i = start;
    for _ in 0..fields {
        i += line[i..].iter().take_while(|b| blank(b)).count();
        if i == line.len() || matches!(line[i], b'#' | b';') {
            break;
        }
        i += line[i..].iter().take_while(|b| !blank(b)).count();
        end = i;
    }
    let mut out = line[..start].to_vec();
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&line[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(usize, &str)]) -> BTreeMap<usize, String> {
        pairs.iter().map(|(l, v)| (*l, v.to_string())).collect()
    }

    #[test]
    fn only_the_value_changes() {
        let text = b"# keep\r\nnet.core.somaxconn\t=  128  \r\n-net.ipv4.tcp_syncookies=0\nx = 1";
        let out = set_values(text, &map(&[(2, "4096"), (3, "1"), (4, "2")]));
        assert_eq!(
            out,
            b"# keep\r\nnet.core.somaxconn\t=  4096  \r\n-net.ipv4.tcp_syncookies=1\nx = 2"
                .to_vec()
        );
        assert_eq!(set_values(text, &BTreeMap::new()), text.to_vec());
    }

    #[test]
    fn notes_after_the_value_stay_byte_for_byte() {
        let text =
            b"a = 600 #note\nb = 1024 # 16384\r\nc=4096 1 2 ; three\nd = 600#x\ne =  7\t\r\n";
        let out = set_values(
            text,
            &map(&[
                (1, "240"),
                (2, "300000"),
                (3, "8192 3 4"),
                (4, "240"),
                (5, "8"),
            ]),
        );
        assert_eq!(
            out,
            b"a = 240 #note\nb = 300000 # 16384\r\nc=8192 3 4 ; three\nd = 240\ne =  8\t\r\n"
                .to_vec()
        );
    }
}
