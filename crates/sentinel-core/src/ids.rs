//! Identifier newtypes, so a venue id can never be passed where a person id is expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A venue (场所): a place with an entrance.
    VenueId
);
id_type!(
    /// A person in the registry; pseudonymous, never the ID number.
    PersonId
);
id_type!(
    /// A device (数字哨兵, handheld verifier, wall scanner) registered to a venue.
    DeviceId
);
id_type!(
    /// A console or integration user.
    UserId
);
