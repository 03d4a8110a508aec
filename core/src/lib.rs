//! The Busker peer.
