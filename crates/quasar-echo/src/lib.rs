//! pulsar's echo protocols on quasar-net.
#![deny(missing_docs)]
