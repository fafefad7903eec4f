//! The five functions as built: what each does at INIT.

mod init;
