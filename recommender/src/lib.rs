//! Collaborative filtering for Busker.
