//! Unit tests: one per rule of RFC 9113 §4 and §6, named after its section.
