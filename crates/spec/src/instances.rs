//! Finite instances shared with the TLC models in `spec/`.
