//! Command-line flags in the interop suite's style: `--name=value` or
//! `--name value`, booleans spelled `true`/`false`. Unknown flags are an
//! error so that a typo never changes what a run tests.

use std::collections::BTreeMap;

/// Parsed flags, seeded with defaults.
#[derive(Debug, Clone)]
pub struct Flags {
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Parse `args` (without the program name) against `defaults`, which
    /// also name every accepted flag.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        defaults: &[(&str, &str)],
    ) -> Result<Flags, String> {
        let mut values: BTreeMap<String, String> = defaults
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let v = args
                        .next()
                        .ok_or_else(|| format!("flag --{flag} needs a value"))?;
                    (flag.to_string(), v)
                }
            };
            if !values.contains_key(&name) {
                return Err(format!("unknown flag --{name}"));
            }
            values.insert(name, value);
        }
        Ok(Flags { values })
    }

    /// A flag's value.
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    /// A boolean flag (`true`, `1`, `yes`).
    pub fn bool(&self, name: &str) -> bool {
        matches!(
            self.get(name).to_ascii_lowercase().as_str(),
            "true" | "1" | "yes"
        )
    }

    /// A number flag.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, String> {
        self.get(name)
            .parse()
            .map_err(|_| format!("--{name}: not a number: {:?}", self.get(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_spellings_and_unknown_flags() {
        let d = [("port", "0"), ("use_tls", "false")];
        let f = Flags::parse(args(&["--port=5", "--use_tls", "true"]), &d).unwrap();
        assert_eq!(f.number::<u16>("port").unwrap(), 5);
        assert!(f.bool("use_tls"));
        assert!(Flags::parse(args(&["--prot=5"]), &d).is_err());
        assert!(Flags::parse(args(&["--port"]), &d).is_err());
        assert!(Flags::parse(args(&["port"]), &d).is_err());
    }
}
