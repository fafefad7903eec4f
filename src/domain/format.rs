//! JavaScript-exact formatting of figures, as Rocket.Chat's server produces them.
//!
//! Responses must be byte-identical to Rocket.Chat's, so every rule here reproduces what V8 does,
//! including its rounding of binary doubles and the quirks of `secondsToHHMMSS`.

/// JavaScript's `x.toFixed(2)`.
///
/// The exact value of the double is rounded to two decimals with ties to the larger magnitude
/// (`(0.125).toFixed(2)` is `"0.13"`, `(1.005).toFixed(2)` is `"1.00"` because 1.005 is
/// 1.00499… in binary). Negative numbers keep their sign even when they round to zero
/// (`"-0.00"`), but `-0` itself gives `"0.00"`. NaN, infinities and `|x| >= 1e21` are written as
/// JavaScript's `String(x)`, as `toFixed` does.
pub fn js_to_fixed2(x: f64) -> String {
    if !x.is_finite() || x.abs() >= 1e21 {
        return js_number_to_string(x);
    }
    let hundredths = round_half_up_hundredths(x.abs());
    let sign = if x < 0.0 { "-" } else { "" };
    format!("{sign}{}.{:02}", hundredths / 100, hundredths % 100)
}

/// `round(|x| * 100)` computed on the exact binary value, halves rounded up.
/// Precondition: `0 <= x < 1e21`, so the result is below 2^77.
fn round_half_up_hundredths(x: f64) -> u128 {
    let (mantissa, exponent) = decompose(x);
    let scaled = u128::from(mantissa) * 100; // < 2^60
    if exponent >= 0 {
        // x < 1e21 < 2^70 bounds the shift.
        return scaled << exponent;
    }
    let shift = exponent.unsigned_abs();
    if shift >= 64 {
        // scaled / 2^shift < 2^-4: rounds to zero.
        return 0;
    }
    let quotient = scaled >> shift;
    let remainder = scaled - (quotient << shift);
    if remainder << 1 >= 1u128 << shift {
        quotient + 1
    } else {
        quotient
    }
}

/// `x == mantissa * 2^exponent` exactly, for finite `x >= 0`.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let fraction = bits & ((1 << 52) - 1);
    let biased = ((bits >> 52) & 0x7ff) as i32; // 11 bits
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    }
}

/// JavaScript's `String(x)` for a number: shortest round-trip digits, exponent form outside
/// `[1e-6, 1e21)`, `-0` written as `"0"`.
fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust's Display also prints the shortest round-trip digits, never in exponent form.
        return x.to_string();
    }
    // Rust writes `1.5e21` and `1e-7`; JavaScript writes `1.5e+21` and `1e-7`.
    let exponential = format!("{x:e}");
    match exponential.split_once('e') {
        Some((digits, exp)) if !exp.starts_with('-') => format!("{digits}e+{exp}"),
        _ => exponential,
    }
}

/// JavaScript's `parseFloat(s)`: the longest decimal literal after leading white space, NaN if
/// there is none. `"01:59:00"` gives 1 and `"66.67%"` gives 66.67, which is how Rocket.Chat's
/// sort reads its own formatted values.
pub fn js_parse_float(s: &str) -> f64 {
    let rest = s.trim_start_matches(is_js_white_space);
    let bytes = rest.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    if rest[end..].starts_with("Infinity") {
        return if rest.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let int_digits = count_digits(&bytes[end..]);
    end += int_digits;
    if bytes.get(end) == Some(&b'.') {
        let fraction_digits = count_digits(&bytes[end + 1..]);
        if int_digits == 0 && fraction_digits == 0 {
            return f64::NAN;
        }
        end += 1 + fraction_digits;
    } else if int_digits == 0 {
        return f64::NAN;
    }
    // An exponent counts only with at least one digit: "1e" and "1e+" read as 1.
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exp_end = end + 1;
        if matches!(bytes.get(exp_end), Some(b'+' | b'-')) {
            exp_end += 1;
        }
        let exp_digits = count_digits(&bytes[exp_end..]);
        if exp_digits > 0 {
            end = exp_end + exp_digits;
        }
    }
    // The prefix is ASCII and a valid Rust float literal; both languages round correctly.
    rest[..end].parse().unwrap_or(f64::NAN)
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// ECMAScript's StrWhiteSpaceChar: Unicode White_Space without U+0085, plus U+FEFF.
fn is_js_white_space(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// Rocket.Chat's `secondsToHHMMSS` (7.x, `apps/meteor/lib/utils/secondsToHHMMSS.ts`):
///
/// ```js
/// sec = parseFloat(sec);
/// const hours = Math.floor(sec / 3600);
/// const minutes = Math.floor((sec - hours * 3600) / 60);
/// const seconds = Math.round(sec - hours * 3600 - minutes * 60);
/// return `${hours.toString().padStart(2, '0')}:${minutes…}:${seconds…}`;
/// ```
///
/// Kept quirks: a remainder of 59.5 s or more rounds to `"60"` (`"00:00:60"`); hours are not
/// capped (`"123:03:20"`); a negative input gives negative hours (`"-1:59:59"` for -1);
/// unparseable input gives `"NaN:NaN:NaN"`.
pub fn seconds_to_hhmmss(s: &str) -> String {
    let total = js_parse_float(s);
    let hours = (total / 3600.0).floor();
    let minutes = ((total - hours * 3600.0) / 60.0).floor();
    let seconds = js_math_round(total - hours * 3600.0 - minutes * 60.0);
    format!("{}:{}:{}", pad2(hours), pad2(minutes), pad2(seconds))
}

/// `x.toString().padStart(2, '0')`.
fn pad2(x: f64) -> String {
    let text = js_number_to_string(x);
    if text.len() < 2 {
        format!("0{text}")
    } else {
        text
    }
}

/// JavaScript's `Math.round`: halves go towards +infinity (2.5 → 3, -2.5 → -2). It may return
/// 0 where JavaScript returns -0; both are written as "0".
fn js_math_round(x: f64) -> f64 {
    let floor = x.floor();
    // `x - floor` is exact except for -0.5 < x < 0, where it still rounds to no less than 0.5.
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// What Rocket.Chat shows for an average or minimum duration: `secondsToHHMMSS(x.toFixed(2))`.
pub fn duration_value(seconds: f64) -> String {
    seconds_to_hhmmss(&js_to_fixed2(seconds))
}

/// Rocket.Chat's share of conversations: `` `${((count / total) * 100).toFixed(2)}%` ``, in
/// double arithmetic and in that order.
///
/// `total` must be positive (it counts the conversations `count` is part of). For `total == 0`
/// this returns `"0.00%"` instead of JavaScript's `"NaN%"`.
pub fn percent_value(count: u64, total: u64) -> String {
    if total == 0 {
        return "0.00%".to_owned();
    }
    // Counts stay far below 2^53, so the conversions are exact, as they are in JavaScript.
    let share = (count as f64 / total as f64) * 100.0;
    format!("{}%", js_to_fixed2(share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_fixed_rounds_the_exact_binary_value() {
        // Expectations from node 20's `x.toFixed(2)`.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.00"),
            (1.005, "1.00"),   // 1.00499999999999989…
            (1.045, "1.04"),   // 1.04499999999999992…
            (2.675, "2.67"),   // 2.67499999999999982…
            (1.255, "1.25"),   // 1.25499999999999989…
            (8.345, "8.35"),   // 8.34500000000000063…
            (10.235, "10.23"), // 10.2349999999999994…
            (0.005, "0.01"),   // 0.00500000000000000010…
            (0.015, "0.01"),   // 0.0149999999999999994…
            (99.995, "100.00"),
            (1.000_000_000_000_000_2, "1.00"),
            (5e-324, "0.00"),
            (9797.28, "9797.28"),
            (1585.352, "1585.35"),
            (999_999_999_999_999.9, "999999999999999.88"),
            (1e20, "100000000000000000000.00"),
            (123_456_789_012_345_680_000.0, "123456789012345683968.00"),
        ];
        for &(x, expected) in cases {
            assert_eq!(js_to_fixed2(x), expected, "{x:?}");
        }
    }

    #[test]
    fn to_fixed_sends_exact_ties_up_in_magnitude() {
        assert_eq!(js_to_fixed2(0.125), "0.13");
        assert_eq!(js_to_fixed2(0.375), "0.38");
        assert_eq!(js_to_fixed2(2.5), "2.50");
        assert_eq!(js_to_fixed2(1.625), "1.63");
        assert_eq!(js_to_fixed2(-0.125), "-0.13");
        assert_eq!(js_to_fixed2(-1.625), "-1.63");
    }

    #[test]
    fn to_fixed_of_negatives_keeps_the_sign_except_for_minus_zero() {
        assert_eq!(js_to_fixed2(-1.005), "-1.00");
        assert_eq!(js_to_fixed2(-0.001), "-0.00");
        assert_eq!(js_to_fixed2(-0.0), "0.00");
        assert_eq!(js_to_fixed2(-3600.0), "-3600.00");
    }

    #[test]
    fn to_fixed_outside_its_range_is_string_conversion() {
        assert_eq!(js_to_fixed2(1e21), "1e+21");
        assert_eq!(js_to_fixed2(1.5e21), "1.5e+21");
        assert_eq!(js_to_fixed2(-1e21), "-1e+21");
        assert_eq!(js_to_fixed2(f64::NAN), "NaN");
        assert_eq!(js_to_fixed2(f64::INFINITY), "Infinity");
        assert_eq!(js_to_fixed2(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn number_to_string_matches_javascript() {
        assert_eq!(js_number_to_string(-0.0), "0");
        assert_eq!(js_number_to_string(123.0), "123");
        assert_eq!(
            js_number_to_string(2.777_777_777_777_778e296),
            "2.777777777777778e+296"
        );
        assert_eq!(
            js_number_to_string(277_777_777_777_777_800.0),
            "277777777777777800"
        );
        assert_eq!(js_number_to_string(1e-6), "0.000001");
        assert_eq!(js_number_to_string(1.5e-7), "1.5e-7");
    }

    #[test]
    fn parse_float_reads_the_longest_decimal_prefix() {
        let cases: &[(&str, f64)] = &[
            ("01:59:00", 1.0),
            ("123:03:20", 123.0),
            ("-1:59:59", -1.0),
            ("0-1:00:00", 0.0),
            ("66.67%", 66.67),
            ("100.00%", 100.0),
            ("  1.5x", 1.5),
            ("\u{feff}1", 1.0),
            ("\u{2028}1", 1.0),
            ("\u{3000}1", 1.0),
            ("\u{b}\u{c}1", 1.0),
            ("+.5", 0.5),
            ("-.5e3", -500.0),
            ("1.e5", 100_000.0),
            ("1e", 1.0),
            ("1e+", 1.0),
            ("1e-2x", 0.01),
            ("1.5E+3", 1500.0),
            ("0x10", 0.0),
            ("1_000", 1.0),
            ("-Infinityx", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
        ];
        for &(s, expected) in cases {
            assert_eq!(js_parse_float(s), expected, "{s:?}");
        }
        assert!(js_parse_float("-0").is_sign_negative());
    }

    #[test]
    fn parse_float_without_a_number_is_nan() {
        for s in [
            "",
            ".",
            "-",
            ".e5",
            "abc",
            "infinity",
            "Infinit",
            "\u{85}1",
            "\u{180e}1",
        ] {
            assert!(js_parse_float(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn hhmmss_pads_and_rounds_like_rocket_chat() {
        let cases: &[(&str, &str)] = &[
            ("0.00", "00:00:00"),
            ("-0.00", "00:00:00"),
            ("100.00", "00:01:40"),
            ("7300.00", "02:01:40"),
            ("59.49", "00:00:59"),
            ("3599.49", "00:59:59"),
            ("443000.00", "123:03:20"),
        ];
        for &(s, expected) in cases {
            assert_eq!(seconds_to_hhmmss(s), expected, "{s:?}");
        }
    }

    #[test]
    fn hhmmss_keeps_the_sixty_seconds_quirk() {
        assert_eq!(seconds_to_hhmmss("59.50"), "00:00:60");
        assert_eq!(seconds_to_hhmmss("119.50"), "00:01:60");
        assert_eq!(seconds_to_hhmmss("3599.50"), "00:59:60");
    }

    #[test]
    fn hhmmss_of_negative_and_odd_input() {
        // padStart leaves "-1" as is: Rocket.Chat 7.x writes "-1", not "0-1".
        assert_eq!(seconds_to_hhmmss("-1"), "-1:59:59");
        assert_eq!(seconds_to_hhmmss("-0.40"), "-1:59:60");
        assert_eq!(seconds_to_hhmmss("-3601.00"), "-2:59:59");
        assert_eq!(seconds_to_hhmmss("-36000.00"), "-10:00:00");
        assert_eq!(seconds_to_hhmmss("abc"), "NaN:NaN:NaN");
        assert_eq!(seconds_to_hhmmss("Infinity"), "Infinity:NaN:NaN");
        assert_eq!(seconds_to_hhmmss("1e300"), "2.777777777777778e+296:00:00");
    }

    #[test]
    fn math_round_sends_halves_up() {
        assert_eq!(js_math_round(2.5), 3.0);
        assert_eq!(js_math_round(-2.5), -2.0);
        assert_eq!(js_math_round(-0.5), 0.0);
        assert_eq!(js_math_round(0.499_999_999_999_999_94), 0.0);
        assert_eq!(js_math_round(-0.500_000_000_000_000_1), -1.0);
        assert_eq!(
            js_math_round(4_503_599_627_370_497.0),
            4_503_599_627_370_497.0
        );
    }

    #[test]
    fn duration_value_is_hhmmss_of_to_fixed() {
        assert_eq!(duration_value(100.0), "00:01:40");
        assert_eq!(duration_value(30.0), "00:00:30");
        assert_eq!(duration_value(59.494), "00:00:59");
        // 59.495 is 59.49499999999999744… so toFixed gives "59.49"; 59.497 gives "59.50", which
        // Math.round then takes to 60.
        assert_eq!(duration_value(59.495), "00:00:59");
        assert_eq!(duration_value(59.497), "00:00:60");
        assert_eq!(duration_value(60.0 * 60.0 * 123.0 + 200.0), "123:03:20");
    }

    #[test]
    fn percent_value_divides_then_multiplies() {
        assert_eq!(percent_value(2, 3), "66.67%");
        assert_eq!(percent_value(1, 3), "33.33%");
        assert_eq!(percent_value(3, 3), "100.00%");
        assert_eq!(percent_value(1, 8), "12.50%");
        // (7 / 1000) * 100 is 0.70000000000000006661…, not the 0.7 of 7 * 100 / 1000.
        assert_eq!(percent_value(7, 1000), "0.70%");
        assert_eq!(percent_value(1, 0), "0.00%");
    }

    #[test]
    fn sort_key_of_formatted_values() {
        assert_eq!(js_parse_float(&percent_value(2, 3)), 66.67);
        assert_eq!(js_parse_float(&duration_value(7199.0)), 1.0);
    }
}
