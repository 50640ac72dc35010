//! The per-case report every interop client of the matrix prints (ours,
//! and the Python and Node drivers in `tests/peers`):
//!
//! ```text
//! CASE <name> PASS <detail>
//! CASE <name> FAIL <reason>
//! SUMMARY {"passed": n, "failed": m}
//! ```

/// One parsed case line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLine {
    /// The case name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// The detail (on a pass) or the reason (on a failure).
    pub detail: String,
}

/// The line for one case.
pub fn format_line(name: &str, result: &Result<String, String>, millis: u128) -> String {
    match result {
        Ok(detail) => format!("CASE {name} PASS {detail} ({millis} ms)"),
        Err(reason) => format!("CASE {name} FAIL {}", reason.replace('\n', " | ")),
    }
}

/// The case lines among a client's stdout lines.
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a String>) -> Vec<CaseLine> {
    lines
        .into_iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("CASE ")?;
            let (name, rest) = rest.split_once(' ')?;
            let (verdict, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            let passed = match verdict {
                "PASS" => true,
                "FAIL" => false,
                _ => return None,
            };
            Some(CaseLine {
                name: name.to_string(),
                passed,
                detail: detail.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let lines = vec![
            format_line("large_unary", &Ok("ok".into()), 12),
            format_line("ping_pong", &Err("reply 2:\nshort".into()), 0),
            "noise".to_string(),
            "SUMMARY {}".to_string(),
        ];
        let parsed = parse(&lines);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].name, "large_unary");
        assert!(parsed[0].passed);
        assert_eq!(parsed[0].detail, "ok (12 ms)");
        assert!(!parsed[1].passed);
        assert_eq!(parsed[1].detail, "reply 2: | short");
    }
}
