//! russh transport: one connection per host, bounded channels, sudo, local connection
