//! A passphrase slot's Argon2id parameters, their bounds and the budget of
//! all passphrase slots together, as the format defines them
//! (`docs/FORMAT.md`, "Bounds"): checked while the header is parsed and
//! when a slot is made, before any key derivation. The KDF itself is
//! `crypto::derive_kek`.

use std::ops::RangeInclusive;

use crate::display::format_kib;

/// Memory, KiB: 8 MiB ..= 2 GiB.
pub const MEMORY_KIB: RangeInclusive<u32> = 8 * 1024..=2 * 1024 * 1024;
/// Passes.
pub const TIME: RangeInclusive<u32> = 1..=16;
/// Lanes.
pub const PARALLELISM: RangeInclusive<u32> = 1..=16;
/// Salt length in bytes.
pub const SALT_LEN: RangeInclusive<usize> = 16..=64;

/// The most Argon2id work the passphrase slots of one vault may ask for
/// together, as memory (KiB) × passes summed over the slots: one slot at
/// the per-slot bounds, 2 GiB × 16 passes. A passphrase may be tried on
/// every passphrase slot before a tampered header can be told from a wrong
/// passphrase, so the per-slot bounds alone would let a file ask for eight
/// maximal runs. Lanes share the memory and do not count.
pub const BUDGET: u64 = *MEMORY_KIB.end() as u64 * *TIME.end() as u64;

/// A passphrase slot that does not fit in what is left of [`BUDGET`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// The slot's parameters.
    pub params: KdfParams,
    /// What the vault's other passphrase slots leave of the budget.
    pub left: u64,
}

/// `params` added to `used`, the work of the other passphrase slots: the
/// new total if it stays within [`BUDGET`], else what was left.
pub fn add_to_budget(used: u64, params: KdfParams) -> Result<u64, OverBudget> {
    match used.checked_add(params.cost()) {
        Some(total) if total <= BUDGET => Ok(total),
        _ => Err(OverBudget {
            params,
            left: BUDGET.saturating_sub(used),
        }),
    }
}

/// Argon2id cost parameters of a passphrase slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub time: u32,
    /// Number of lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended setting: m = 64 MiB, t = 3, p = 4.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        time: 3,
        parallelism: 4,
    };

    /// The cheapest parameters within the bounds (8 MiB, one pass, one
    /// lane): for tests and benchmarks, never a default.
    pub const CHEAPEST: KdfParams = KdfParams {
        memory_kib: 8 * 1024,
        time: 1,
        parallelism: 1,
    };

    /// The Argon2id work this slot asks for, counted against [`BUDGET`]:
    /// memory in KiB × passes.
    pub fn cost(&self) -> u64 {
        self.memory_kib as u64 * self.time as u64
    }

    /// Which bound is broken, if any, as a sentence fragment.
    pub fn check_bounds(&self) -> Result<(), String> {
        if !MEMORY_KIB.contains(&self.memory_kib) {
            return Err(format!(
                "KDF memory {} is outside 8 MiB to 2 GiB",
                format_kib(self.memory_kib as u64)
            ));
        }
        if !TIME.contains(&self.time) {
            return Err(format!("KDF time {} is outside 1 to 16", self.time));
        }
        if !PARALLELISM.contains(&self.parallelism) {
            return Err(format!(
                "KDF parallelism {} is outside 1 to 16",
                self.parallelism
            ));
        }
        Ok(())
    }

    /// Which bound `salt_len` breaks, if it does, as a sentence fragment.
    pub fn check_salt_len(salt_len: usize) -> Result<(), String> {
        if SALT_LEN.contains(&salt_len) {
            Ok(())
        } else {
            Err(format!("salt length {salt_len} is outside 16 to 64 bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_named() {
        let ok = KdfParams {
            memory_kib: 8192,
            time: 1,
            parallelism: 1,
        };
        assert_eq!(ok.check_bounds(), Ok(()));
        assert_eq!(KdfParams::DEFAULT.check_bounds(), Ok(()));
        let top = KdfParams {
            memory_kib: 2 * 1024 * 1024,
            time: 16,
            parallelism: 16,
        };
        assert_eq!(top.check_bounds(), Ok(()));
        let cases = [
            (
                KdfParams {
                    memory_kib: 8191,
                    ..ok
                },
                "KDF memory 8191 KiB is outside 8 MiB to 2 GiB",
            ),
            (
                KdfParams {
                    memory_kib: 4 << 20,
                    ..ok
                },
                "KDF memory 4 GiB is outside 8 MiB to 2 GiB",
            ),
            (KdfParams { time: 0, ..ok }, "KDF time 0 is outside 1 to 16"),
            (
                KdfParams { time: 17, ..ok },
                "KDF time 17 is outside 1 to 16",
            ),
            (
                KdfParams {
                    parallelism: 0,
                    ..ok
                },
                "KDF parallelism 0 is outside 1 to 16",
            ),
            (
                KdfParams {
                    parallelism: 17,
                    ..ok
                },
                "KDF parallelism 17 is outside 1 to 16",
            ),
        ];
        for (p, msg) in cases {
            assert_eq!(p.check_bounds(), Err(msg.to_string()));
        }
        assert!(KdfParams::check_salt_len(16).is_ok() && KdfParams::check_salt_len(64).is_ok());
        assert_eq!(
            KdfParams::check_salt_len(15),
            Err("salt length 15 is outside 16 to 64 bytes".into())
        );
        assert!(KdfParams::check_salt_len(65).is_err());
    }

    #[test]
    fn the_budget_is_one_slot_at_the_bounds_and_says_what_is_left() {
        let top = KdfParams {
            memory_kib: *MEMORY_KIB.end(),
            time: *TIME.end(),
            parallelism: 1,
        };
        assert_eq!(BUDGET, 2 * 1024 * 1024 * 16);
        assert_eq!(
            BUDGET,
            super::super::v2::KDF_BUDGET,
            "one budget for both versions"
        );
        assert_eq!(top.cost(), BUDGET);
        assert_eq!(add_to_budget(0, top), Ok(BUDGET));
        assert_eq!(
            add_to_budget(1, top),
            Err(OverBudget {
                params: top,
                left: BUDGET - 1
            })
        );
        let cheap = KdfParams::CHEAPEST;
        assert_eq!(
            add_to_budget(BUDGET - 8192, cheap),
            Ok(BUDGET),
            "exactly at the budget fits"
        );
        assert_eq!(
            add_to_budget(BUDGET, cheap),
            Err(OverBudget {
                params: cheap,
                left: 0
            })
        );
        assert!(add_to_budget(u64::MAX, cheap).is_err());
        // Eight slots at the bounds (what one crafted file could ask for).
        let mut used = 0;
        let fits = (0..8).take_while(|_| match add_to_budget(used, top) {
            Ok(t) => {
                used = t;
                true
            }
            Err(_) => false,
        });
        assert_eq!(fits.count(), 1);
    }
}
