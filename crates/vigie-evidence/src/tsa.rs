//! RFC 3161 trusted time (being written).
