//! The crate's one error type.
//!
//! Every fallible function in `busker-recommender` returns [`Error`]. The variants say what was
//! wrong with the input so that a caller (the evaluation binary, or `busker-core` receiving a
//! taste profile from the network) can log it and drop the input.

/// What went wrong in the recommender.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Error {
    /// A line of a tab-separated data file could not be parsed.
    #[error("line {line}: {reason}")]
    Parse {
        /// One-based line number in the file (the header is line 1).
        line: usize,
        /// What was wrong with the line.
        reason: String,
    },
    /// The data set holds no usable interaction.
    #[error("the data set is empty")]
    Empty,
    /// A taste profile from a peer is malformed, oversized or hostile.
    #[error("invalid taste profile: {0}")]
    InvalidProfile(&'static str),
    /// A parameter is outside its allowed range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// A matrix that must be positive definite is not (EASE regularisation too small).
    #[error("matrix is singular or not positive definite")]
    Singular,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
