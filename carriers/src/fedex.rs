//! FedEx (placeholder)
