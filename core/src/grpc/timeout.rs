//! The `grpc-timeout` request header: how long the client will wait for
//! the call, as a relative [`Duration`].
//!
//! Grammar: 1 to 8 ASCII digits, then exactly one unit letter:
//! `H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u`
//! microseconds, `n` nanoseconds. Nothing else: no sign, no spaces, no
//! fraction. A value of zero is accepted (the deadline has already
//! passed).
//!
//! This module only converts between the header value and a `Duration`.
//! Turning a duration into a deadline needs a clock reading, which the
//! caller passes in elsewhere: this crate never reads a clock.

use std::fmt;
use std::time::Duration;

/// Name of the header.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The largest value the header can carry in any unit (8 digits).
pub const MAX_TIMEOUT_VALUE: u64 = 99_999_999;

/// The longest timeout the header can express: 99,999,999 hours. Longer
/// durations are sent as this.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(MAX_TIMEOUT_VALUE * 3600);

/// Why a `grpc-timeout` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value was empty.
    Empty,
    /// No digits came before the unit (or the value was only a unit).
    MissingValue,
    /// More than 8 digits.
    TooManyDigits,
    /// A byte that is neither a digit nor, in last place, a unit.
    InvalidDigit(u8),
    /// The last byte is not one of `H M S m u n`; a value that ends in a
    /// digit has no unit and reports the digit here.
    InvalidUnit(u8),
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutError::Empty => f.write_str("empty grpc-timeout"),
            TimeoutError::MissingValue => f.write_str("grpc-timeout has no digits"),
            TimeoutError::TooManyDigits => f.write_str("grpc-timeout has more than 8 digits"),
            TimeoutError::InvalidDigit(b) => {
                write!(f, "grpc-timeout has a non-digit byte 0x{b:02x}")
            }
            TimeoutError::InvalidUnit(b) => {
                write!(f, "grpc-timeout has an invalid unit byte 0x{b:02x}")
            }
        }
    }
}

impl std::error::Error for TimeoutError {}

/// The units, most precise first, with their length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// Parses a `grpc-timeout` value.
///
/// ```
/// use std::time::Duration;
/// use grpc_sansio::grpc::timeout::parse_timeout;
/// assert_eq!(parse_timeout(b"1500m"), Ok(Duration::from_millis(1500)));
/// assert!(parse_timeout(b"123456789S").is_err());
/// ```
pub fn parse_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(TimeoutError::Empty);
    };
    let Some(&(_, nanos_per_unit)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(TimeoutError::InvalidUnit(unit));
    };
    if digits.is_empty() {
        return Err(TimeoutError::MissingValue);
    }
    if digits.len() > 8 {
        return Err(TimeoutError::TooManyDigits);
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(TimeoutError::InvalidDigit(d));
        }
        n = n * 10 + u64::from(d - b'0');
    }
    // 99,999,999 hours is about 3.6e20 ns: past u64, so go through
    // seconds for the coarse units.
    Ok(if nanos_per_unit >= 1_000_000_000 {
        Duration::from_secs(n * (nanos_per_unit / 1_000_000_000))
    } else {
        Duration::from_nanos(n * nanos_per_unit)
    })
}

/// Formats `timeout` as a `grpc-timeout` value.
///
/// Picks the most precise unit in which the value fits in 8 digits and
/// rounds up, so the peer never sees a shorter timeout than `timeout`.
/// Durations longer than [`MAX_TIMEOUT`] are sent as `99999999H`.
///
/// ```
/// use std::time::Duration;
/// use grpc_sansio::grpc::timeout::format_timeout;
/// assert_eq!(format_timeout(Duration::from_millis(1500)), "1500000u");
/// assert_eq!(format_timeout(Duration::from_secs(1_000_000)), "1000000S");
/// assert_eq!(format_timeout(Duration::from_secs(1_000_000_000)), "16666667M");
/// ```
pub fn format_timeout(timeout: Duration) -> String {
    let mut buf = [0u8; 9];
    let n = write_timeout(timeout, &mut buf);
    buf.get(..n)
        .unwrap_or_default()
        .iter()
        .map(|&b| char::from(b))
        .collect()
}

/// [`format_timeout`] into `buf` (8 digits and a unit at most), without
/// allocating; returns the length written.
pub(crate) fn write_timeout(timeout: Duration, buf: &mut [u8; 9]) -> usize {
    let (value, unit) = match u64::try_from(timeout.as_nanos()) {
        Ok(nanos) => UNITS
            .iter()
            .map(|&(unit, per)| (nanos.div_ceil(per), unit))
            .find(|&(value, _)| value <= MAX_TIMEOUT_VALUE)
            .unwrap_or((MAX_TIMEOUT_VALUE, b'H')),
        // Past 584 years only hours have few enough digits.
        Err(_) => {
            let secs = timeout.as_secs();
            let partial = secs % 3600 != 0 || timeout.subsec_nanos() != 0;
            let hours = secs / 3600 + u64::from(partial);
            (hours.min(MAX_TIMEOUT_VALUE), b'H')
        }
    };
    let mut digits = [0u8; 8];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    let len = digits.len() - at;
    for (o, d) in buf.iter_mut().zip(digits.get(at..).unwrap_or_default()) {
        *o = *d;
    }
    if let Some(u) = buf.get_mut(len) {
        *u = unit;
    }
    len + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The formula `write_timeout` computes without `u128` or `fmt`.
    fn reference(timeout: Duration) -> String {
        let nanos = timeout.as_nanos();
        for (unit, per) in UNITS {
            let value = nanos.div_ceil(u128::from(per));
            if value <= u128::from(MAX_TIMEOUT_VALUE) {
                return format!("{value}{}", char::from(unit));
            }
        }
        format!("{MAX_TIMEOUT_VALUE}H")
    }

    #[test]
    fn format_edges() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(99_999_999),
            Duration::from_nanos(100_000_000),
            Duration::from_secs(u64::MAX / 1_000_000_000),
            Duration::from_nanos(u64::MAX),
            Duration::from_nanos(u64::MAX) + Duration::from_nanos(1),
            Duration::from_secs(3600 * 99_999_999),
            Duration::from_secs(3600 * 99_999_999 + 1),
            Duration::MAX,
        ] {
            assert_eq!(format_timeout(d), reference(d), "{d:?}");
        }
    }

    proptest! {
        #[test]
        fn format_matches_the_formula(secs in any::<u64>(), nanos in 0u32..1_000_000_000, shift in 0u32..64) {
            let d = Duration::new(secs >> shift, nanos);
            prop_assert_eq!(format_timeout(d), reference(d));
        }
    }

    #[test]
    fn parse_units() {
        assert_eq!(parse_timeout(b"1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_timeout(b"2M"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout(b"3S"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_timeout(b"4m"), Ok(Duration::from_millis(4)));
        assert_eq!(parse_timeout(b"5u"), Ok(Duration::from_micros(5)));
        assert_eq!(parse_timeout(b"6n"), Ok(Duration::from_nanos(6)));
        assert_eq!(parse_timeout(b"0n"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout(b"99999999H"), Ok(MAX_TIMEOUT));
        assert_eq!(
            parse_timeout(b"000000001S"),
            Err(TimeoutError::TooManyDigits)
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(parse_timeout(b""), Err(TimeoutError::Empty));
        assert_eq!(parse_timeout(b"S"), Err(TimeoutError::MissingValue));
        assert_eq!(parse_timeout(b"10"), Err(TimeoutError::InvalidUnit(b'0')));
        assert_eq!(parse_timeout(b"10s"), Err(TimeoutError::InvalidUnit(b's')));
        assert_eq!(parse_timeout(b"-1S"), Err(TimeoutError::InvalidDigit(b'-')));
        assert_eq!(parse_timeout(b" 1S"), Err(TimeoutError::InvalidDigit(b' ')));
        assert_eq!(parse_timeout(b"1S "), Err(TimeoutError::InvalidUnit(b' ')));
        assert_eq!(
            parse_timeout(b"123456789n"),
            Err(TimeoutError::TooManyDigits)
        );
    }

    #[test]
    fn format_picks_precise_unit_and_rounds_up() {
        assert_eq!(format_timeout(Duration::ZERO), "0n");
        assert_eq!(
            format_timeout(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(format_timeout(Duration::from_nanos(100_000_000)), "100000u");
        assert_eq!(format_timeout(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(format_timeout(Duration::from_secs(1)), "1000000u");
        assert_eq!(format_timeout(Duration::from_secs(100)), "100000m");
        assert_eq!(format_timeout(Duration::from_secs(100_000)), "100000S");
        assert_eq!(format_timeout(MAX_TIMEOUT), "99999999H");
        assert_eq!(format_timeout(Duration::MAX), "99999999H");
    }

    proptest! {
        #[test]
        fn round_trip_never_shrinks(secs in 0u64..(1 << 40), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            let s = format_timeout(d);
            let back = parse_timeout(s.as_bytes()).unwrap();
            if d <= MAX_TIMEOUT {
                prop_assert!(back >= d, "{:?} -> {} -> {:?}", d, s, back);
            } else {
                prop_assert_eq!(back, MAX_TIMEOUT);
            }
            // The chosen unit is the most precise that fits: the next finer
            // unit would need more than 8 digits.
            prop_assert!(s.len() <= 9);
        }

        #[test]
        fn exact_in_chosen_unit(v in 0u64..=MAX_TIMEOUT_VALUE, unit in 0usize..6) {
            let (u, _) = UNITS[unit];
            let text = format!("{v}{}", char::from(u));
            let d = parse_timeout(text.as_bytes()).unwrap();
            let again = parse_timeout(format_timeout(d).as_bytes()).unwrap();
            prop_assert_eq!(again, d);
        }

        #[test]
        fn parse_never_panics(v in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = parse_timeout(&v);
        }
    }
}
