//! [`counted_enum!`]: the one way to declare an enum whose variants are counted, shown or
//! iterated (drop reasons, plane events). From one list of `Variant => "name"` lines it
//! generates the enum, `ALL` (every variant, in declaration order), `COUNT`, `index()` (the
//! variant's position in `ALL`, always below `COUNT`) and `name()` (the stable text that `show`
//! output, logs, tests and docs use).
//!
//! Because `ALL`, `COUNT` and the names come from the same list as the variants, a variant cannot
//! be missing from `ALL` or lack a name, and a counter array declared as `[u64; E::COUNT]`
//! indexed by `e.index()` cannot be indexed out of bounds. Size every counter array that way,
//! never by a number written by hand.
//!
//! ```
//! fulcrum_wire::counted_enum! {
//!     /// Why a widget was refused.
//!     #[derive(PartialOrd, Ord)]
//!     pub enum WidgetDrop {
//!         /// Shorter than a widget header.
//!         Runt => "runt",
//!         BadChecksum => "bad-checksum",
//!     }
//! }
//!
//! let mut drops = [0u64; WidgetDrop::COUNT];
//! drops[WidgetDrop::BadChecksum.index()] += 1;
//! assert_eq!(WidgetDrop::ALL, [WidgetDrop::Runt, WidgetDrop::BadChecksum]);
//! assert_eq!(WidgetDrop::BadChecksum.name(), "bad-checksum");
//! assert_eq!(drops, [0, 1]);
//! ```

/// Declares a counted enum: see the [module documentation](crate::counted). The enum always
/// derives `Debug, Clone, Copy, PartialEq, Eq, Hash`; further attributes (docs, more derives)
/// go before `enum` and before each variant. Variants take no explicit discriminant and no
/// fields, so `index()` is the position in `ALL`.
#[macro_export]
macro_rules! counted_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in declaration order (`ALL[v.index()] == v`).
            pub const ALL: [$name; $name::COUNT] = [$($name::$variant),+];

            /// How many variants there are: the length of a counter array indexed by
            /// [`Self::index`].
            pub const COUNT: usize = [$(stringify!($variant)),+].len();

            /// The variant's position in [`Self::ALL`], always below [`Self::COUNT`].
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The stable name that output, logs, tests and docs use.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::counted_enum! {
        /// A test enum.
        enum Sample {
            First => "first",
            /// Documented.
            Second => "second",
            Third => "third",
        }
    }

    #[test]
    fn all_lists_every_variant_at_its_index() {
        assert_eq!(Sample::COUNT, 3);
        for (position, variant) in Sample::ALL.into_iter().enumerate() {
            assert_eq!(variant.index(), position);
        }
        let names: Vec<_> = Sample::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["first", "second", "third"]);
    }
}
