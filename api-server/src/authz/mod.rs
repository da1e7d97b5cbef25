//! Authorisation beyond routes: which tools a principal may use.

pub mod tools;
