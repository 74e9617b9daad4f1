//! Only a bench lives here (benches/noop.rs).
