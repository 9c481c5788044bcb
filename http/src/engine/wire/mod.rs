//! The HTTP/1.1 wire protocol, without sockets: what the client's bytes mean (`decode`), the
//! bytes of a response head (`encode`), a response body and its chunked framing (`body`), and
//! the `Date` header (`date`), and the header maps recycled between requests (`header_maps`).

pub(crate) mod body;
pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod header_maps;

#[cfg(test)]
mod decode_props;
