//! One connection's byte pipe: a TCP socket, plain or wrapped in TLS.
//!
//! Owns moving bytes between the session's buffers and the socket without blocking. The
//! driver waits for socket readiness and calls [`Transport::try_read_buf`] and
//! [`Transport::try_write`], which behave like `TcpStream`'s (`WouldBlock` when the socket
//! has nothing more to give or take) for both kinds of connection.
//!
//! With TLS, rustls's connection is used sans-IO after the handshake: ciphertext is read
//! with one large `read` per wake-up into a staging buffer and fed to rustls from there
//! (rustls alone reads 4 KiB per call), decrypted plaintext is appended to the session's
//! buffer; outgoing plaintext is encrypted into rustls's buffer (64 KiB at most) and its
//! records written out. That is one extra copy each way besides the cipher work.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use rustls::ClientConnection;
use tokio::net::TcpStream;

/// Ciphertext read per wake-up, at most.
const CIPHER_CHUNK: usize = 64 * 1024;

/// A connection to a server.
#[derive(Debug)]
pub(crate) struct Transport {
    tcp: TcpStream,
    tls: Option<Box<Tls>>,
}

/// The TLS layer of a connection.
#[derive(Debug)]
struct Tls {
    conn: ClientConnection,
    /// Ciphertext read from the socket that rustls has not taken yet.
    inbox: BytesMut,
    /// The last read handed out data and stopped before finding the socket empty, so the
    /// layer may still hold input (rustls cannot be asked without decrypting more).
    maybe_buffered: bool,
}

impl Transport {
    /// A plain TCP connection.
    pub(crate) fn plain(tcp: TcpStream) -> Self {
        Self { tcp, tls: None }
    }

    /// A TLS connection whose handshake is done.
    pub(crate) fn tls(tls: tokio_rustls::client::TlsStream<TcpStream>) -> Self {
        let (tcp, conn) = tls.into_inner();
        Self {
            tcp,
            tls: Some(Box::new(Tls {
                conn,
                inbox: BytesMut::new(),
                maybe_buffered: false,
            })),
        }
    }

    /// The server's address.
    pub(crate) fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp.peer_addr().ok()
    }

    /// Waits until the socket may be read.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.tcp.readable().await
    }

    /// Waits until the socket may be written.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        self.tcp.writable().await
    }

    /// Whether encrypted bytes wait to be written (besides any plaintext not yet given).
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.wants_write())
    }

    /// Whether input was read from the socket that has not been handed out yet (TLS
    /// ciphertext staged, or plaintext decrypted): the socket's readiness will not tell.
    pub(crate) fn has_buffered_input(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.maybe_buffered)
    }

    /// Writes what is pending below the plaintext (TLS records). `WouldBlock` if the
    /// socket is full.
    pub(crate) fn try_flush(&mut self) -> io::Result<()> {
        match &mut self.tls {
            None => Ok(()),
            Some(tls) => write_records(&mut tls.conn, &self.tcp),
        }
    }

    /// Takes what it can of `buf`; returns how many bytes it took (`WouldBlock` when it
    /// took none because the socket is full).
    pub(crate) fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.tcp.try_write(buf);
        };
        let taken = tls.conn.writer().write(buf)?;
        match write_records(&mut tls.conn, &self.tcp) {
            Ok(()) => Ok(taken),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && taken > 0 => Ok(taken),
            Err(e) => Err(e),
        }
    }

    /// Appends what can be read now to `buf`; returns how many bytes, 0 when the server
    /// closed the connection, `WouldBlock` when nothing is available. A TLS protocol error
    /// (e.g. the server's alert refusing the client's certificate) is an `InvalidData`
    /// error carrying the `rustls::Error`.
    pub(crate) fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.tcp.try_read_buf(buf);
        };
        let result = Self::try_read_tls(tls, &self.tcp, buf);
        tls.maybe_buffered = matches!(result, Ok(n) if n > 0);
        result
    }

    fn try_read_tls(tls: &mut Tls, tcp: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
        // Everything decrypted so far goes out in one call: a server that sends each reply
        // as its own small record (Netty does) would otherwise cost a round through the
        // driver per record.
        let mut total = 0;
        loop {
            loop {
                let mut reader = tls.conn.reader();
                match reader.fill_buf() {
                    Ok([]) => return Ok(total), // close_notify (0 once nothing is left)
                    Ok(plain) => {
                        let n = plain.len();
                        buf.extend_from_slice(plain);
                        reader.consume(n);
                        total += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // The socket closed without close_notify: a lost connection all the same.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
                    Err(e) if total > 0 => {
                        tracing::trace!(error = %e, "TLS read error after data; reported next");
                        return Ok(total);
                    }
                    Err(e) => return Err(e),
                }
            }
            if tls.inbox.is_empty() {
                if total > 0 {
                    return Ok(total);
                }
                tls.inbox.reserve(CIPHER_CHUNK);
                if tcp.try_read_buf(&mut tls.inbox)? == 0 {
                    return Ok(0);
                }
            }
            let mut staged: &[u8] = &tls.inbox;
            let before = staged.len();
            tls.conn.read_tls(&mut staged)?;
            let taken = before - staged.len();
            tls.inbox.advance(taken);
            if let Err(e) = tls.conn.process_new_packets() {
                // Tell the server why (best effort), then report it (after what was read).
                let _ = write_records(&mut tls.conn, tcp);
                if total > 0 {
                    return Ok(total);
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

/// Writes rustls's pending records to the socket until none are left or it is full.
fn write_records(conn: &mut ClientConnection, tcp: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(&mut SocketWriter(tcp))?;
    }
    Ok(())
}

/// A non-blocking `Write` over a tokio socket (`WouldBlock` when it is full).
struct SocketWriter<'a>(&'a TcpStream);

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
