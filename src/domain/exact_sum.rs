//! An exact, order-independent sum of metric values (seconds).
//!
//! Floating-point addition is not associative, so summing the same conversations in another
//! order, or merging stored partial sums, could change the last bit of an average and with it a
//! `toFixed(2)` digit. Summing in fixed point makes every order give the same bits.

use std::num::ParseIntError;

/// Binary digits kept below the unit: every double of magnitude at least 2^-28 is an exact
/// multiple of 2^-80.
const FRACTION_BITS: u32 = 80;

/// 2^-80, exactly.
const UNIT: f64 = f64::from_bits(((1023 - FRACTION_BITS) as u64) << 52);

/// Values accepted by [`ExactSum::add`] are below this magnitude (2^40 s, about 35,000 years).
const MAX_VALUE: f64 = (1u64 << 40) as f64;

/// A sum of doubles held exactly as an integer count of 2^-80.
///
/// Totals must stay below 2^47 in magnitude (the range of `i128` at this scale); going beyond
/// is reported as [`SumOutOfRange::Total`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum(i128);

/// A value or total outside what [`ExactSum`] holds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SumOutOfRange {
    #[error("metric value is not finite or not below 2^40 in magnitude")]
    Value,
    #[error("metric sum overflows its fixed-point range (2^47)")]
    Total,
}

/// A stored sum that is not a decimal `i128`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid stored exact sum {text:?}")]
pub struct ParseExactSumError {
    text: String,
    #[source]
    source: ParseIntError,
}

impl ExactSum {
    /// Adds `x`, which must be finite with `|x| < 2^40`.
    ///
    /// Only a double below 2^-28 in magnitude can have bits below 2^-80; it is rounded to the
    /// nearest multiple of 2^-80 (ties to even), an error under 1e-24 of a second.
    pub fn add(&mut self, x: f64) -> Result<(), SumOutOfRange> {
        if !x.is_finite() || x.abs() >= MAX_VALUE {
            return Err(SumOutOfRange::Value);
        }
        self.merge(Self(to_fixed_point(x)))
    }

    /// Adds a sum computed elsewhere (e.g. a stored rollup).
    pub fn merge(&mut self, other: ExactSum) -> Result<(), SumOutOfRange> {
        self.0 = self.0.checked_add(other.0).ok_or(SumOutOfRange::Total)?;
        Ok(())
    }

    /// The double nearest to the exact sum (ties to even).
    pub fn to_f64(self) -> f64 {
        // `as` rounds to nearest; scaling by a power of two is then exact, as the result is
        // either 0 or at least 2^-80, far from the subnormal range.
        self.0 as f64 * UNIT
    }

    /// The raw fixed-point value as a decimal integer, for storage.
    pub fn to_decimal_string(self) -> String {
        self.0.to_string()
    }

    /// Reads back [`ExactSum::to_decimal_string`].
    pub fn from_decimal_string(s: &str) -> Result<Self, ParseExactSumError> {
        s.parse().map(Self).map_err(|source| ParseExactSumError {
            text: s.to_owned(),
            source,
        })
    }
}

/// `x * 2^80` rounded to an integer, for finite `|x| < 2^40` (so the result is below 2^120).
fn to_fixed_point(x: f64) -> i128 {
    let bits = x.to_bits();
    let fraction = bits & ((1 << 52) - 1);
    let biased = ((bits >> 52) & 0x7ff) as i32; // 11 bits
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // x = mantissa * 2^exponent, so x * 2^80 = mantissa * 2^(exponent + 80).
    let shift = exponent + FRACTION_BITS as i32;
    let magnitude = i128::from(mantissa);
    let scaled = if shift >= 0 {
        magnitude << shift
    } else {
        round_shift_right(magnitude, shift.unsigned_abs())
    };
    if x.is_sign_negative() {
        -scaled
    } else {
        scaled
    }
}

/// `value / 2^shift` rounded to nearest, ties to even, for `0 <= value < 2^53`.
fn round_shift_right(value: i128, shift: u32) -> i128 {
    if shift > 54 {
        // value / 2^shift < 1/4: rounds to zero.
        return 0;
    }
    let quotient = value >> shift;
    let remainder = value - (quotient << shift);
    let half = 1i128 << (shift - 1);
    if remainder > half || (remainder == half && quotient & 1 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut sum = ExactSum::default();
        for &x in values {
            sum.add(x).unwrap();
        }
        sum
    }

    #[test]
    fn unit_is_two_to_the_minus_eighty() {
        assert_eq!(UNIT * (1u128 << 80) as f64, 1.0);
        assert_eq!(MAX_VALUE, 1_099_511_627_776.0);
    }

    #[test]
    fn every_order_of_a_tenth_fifth_and_three_tenths_gives_the_rounded_exact_sum() {
        // The exact sum of these doubles is 0.60000000000000000555…, nearest to the double 0.6,
        // while naive addition gives 0.6000000000000001 in some orders.
        let orders = [
            [0.1, 0.2, 0.3],
            [0.1, 0.3, 0.2],
            [0.2, 0.1, 0.3],
            [0.2, 0.3, 0.1],
            [0.3, 0.1, 0.2],
            [0.3, 0.2, 0.1],
        ];
        assert_ne!(0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1);
        for order in orders {
            assert_eq!(
                sum_of(&order).to_f64().to_bits(),
                0.6f64.to_bits(),
                "{order:?}"
            );
        }
    }

    /// Deterministic shuffles (a 64-bit LCG) of 1,000 values with three decimals.
    #[test]
    fn shuffled_sums_and_merged_parts_have_identical_bits() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut values: Vec<f64> = (0..1000)
            .map(|_| (next() % 10_000_000) as f64 / 1000.0)
            .collect();
        let expected = sum_of(&values);
        let mut naive_results = std::collections::HashSet::new();
        for _ in 0..50 {
            for i in (1..values.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                values.swap(i, j);
            }
            let sum = sum_of(&values);
            assert_eq!(sum, expected);
            assert_eq!(sum.to_f64().to_bits(), expected.to_f64().to_bits());
            naive_results.insert(values.iter().sum::<f64>().to_bits());

            let cut = (next() % 1000) as usize;
            let mut merged = sum_of(&values[..cut]);
            merged.merge(sum_of(&values[cut..])).unwrap();
            assert_eq!(merged, expected);
        }
        // The premise: plain f64 addition does depend on the order.
        assert!(naive_results.len() > 1);
    }

    #[test]
    fn integer_sums_are_exact() {
        let sum = sum_of(&[7300.0, 100.0, 30.0, -50.0, 1_099_511_627_775.0]);
        assert_eq!(sum.to_f64(), 1_099_511_635_155.0);
        assert_eq!(sum_of(&[]).to_f64(), 0.0);
    }

    #[test]
    fn tiny_values_round_to_the_nearest_unit() {
        let unit = UNIT;
        assert_eq!(sum_of(&[unit]).0, 1);
        assert_eq!(sum_of(&[unit * 0.5]).0, 0); // tie, to even
        assert_eq!(sum_of(&[unit * 1.5]).0, 2); // tie, to even
        assert_eq!(sum_of(&[unit * 0.75]).0, 1);
        assert_eq!(sum_of(&[-unit * 0.75]).0, -1);
        assert_eq!(sum_of(&[f64::MIN_POSITIVE, 5e-324]).0, 0);
        assert_eq!(sum_of(&[-0.0]).0, 0);
    }

    #[test]
    fn values_out_of_range_are_errors() {
        let mut sum = ExactSum::default();
        for x in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            MAX_VALUE,
            -MAX_VALUE,
            1e300,
        ] {
            assert_eq!(sum.add(x), Err(SumOutOfRange::Value), "{x:?}");
        }
        assert_eq!(sum, ExactSum::default());
        assert_eq!(sum.add(MAX_VALUE - 1.0), Ok(()));
        assert_eq!(sum.add(-(MAX_VALUE - 1.0)), Ok(()));
        assert_eq!(sum.to_f64(), 0.0);
    }

    #[test]
    fn overflowing_totals_are_errors() {
        let mut sum = ExactSum::default();
        let largest = MAX_VALUE - 1.0;
        // 128 * (2^40 - 1) is just below 2^47; one more is not.
        for _ in 0..128 {
            sum.add(largest).unwrap();
        }
        let before = sum;
        assert_eq!(sum.add(largest), Err(SumOutOfRange::Total));
        assert_eq!(sum, before);

        let mut max = ExactSum::from_decimal_string(&i128::MAX.to_string()).unwrap();
        assert_eq!(max.merge(ExactSum(1)), Err(SumOutOfRange::Total));
        let mut min = ExactSum::from_decimal_string(&i128::MIN.to_string()).unwrap();
        assert_eq!(min.add(-1.0), Err(SumOutOfRange::Total));
    }

    #[test]
    fn merge_equals_adding_the_values() {
        let (left, right) = ([1585.352, 0.001, 3.3], [7300.0, 0.1, 99.995]);
        let mut merged = sum_of(&left);
        merged.merge(sum_of(&right)).unwrap();
        assert_eq!(merged, sum_of(&[left, right].concat()));
    }

    #[test]
    fn decimal_string_round_trips() {
        for sum in [
            sum_of(&[1585.352, 0.1]),
            sum_of(&[-3.3]),
            ExactSum::default(),
            ExactSum(i128::MAX),
            ExactSum(i128::MIN),
        ] {
            let text = sum.to_decimal_string();
            assert_eq!(ExactSum::from_decimal_string(&text), Ok(sum));
        }
        assert_eq!(ExactSum::default().to_decimal_string(), "0");
        assert_eq!(
            sum_of(&[1.0]).to_decimal_string(),
            "1208925819614629174706176"
        );
        for bad in [
            "",
            "1.5",
            "abc",
            " 1",
            "170141183460469231731687303715884105728",
        ] {
            assert!(ExactSum::from_decimal_string(bad).is_err(), "{bad:?}");
        }
    }
}
