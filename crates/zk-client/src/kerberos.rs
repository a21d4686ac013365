//! Kerberos for SASL GSSAPI (feature `kerberos`): where the client's credentials come from
//! and which service principal it asks a ticket for, over MIT's libgssapi_krb5.
//!
//! Owns: [`KerberosOptions`] and the [`GssInitiator`] over
//! [libgssapi](https://docs.rs/libgssapi) that [`zk_proto::sasl::gssapi`] runs the
//! mechanism on. The exchange itself is the session's, as for DIGEST-MD5.
//!
//! # Why a feature
//! libgssapi links libgssapi_krb5 and generates its bindings at build time (bindgen), so
//! building it needs the MIT headers and libclang (Debian: `libkrb5-dev`, `libclang-dev`,
//! `pkg-config`; `scripts/krb5-kdc.sh install`). The default build must work on a machine
//! without them, so Kerberos is off unless `--features zk-client/kerberos`.
//!
//! # Credentials
//! - [`KerberosOptions::new`]`(principal)`: the principal's tickets in the default
//!   credential cache (`KRB5CCNAME`, as after `kinit`), or the cache's own principal with
//!   [`KerberosOptions::default_principal`].
//! - [`KerberosOptions::with_keytab`]: a client keytab; each exchange gets a fresh ticket
//!   into a private in-memory cache (`gss_acquire_cred_from` with `client_keytab`), the
//!   default cache is left alone. JAAS `Krb5LoginModule` with `useKeyTab=true`.
//! - [`KerberosOptions::with_ccache`]: another cache (JAAS `ticketCache`).
//!
//! The realm, KDCs and host-to-realm mapping come from the process's krb5 configuration
//! (`KRB5_CONFIG`, default `/etc/krb5.conf`), as for any MIT Kerberos program.
//!
//! # Service principal (Apache 3.8 `SaslServerPrincipal`, `SecurityUtils.createSaslClient`)
//! Java asks for `zookeeper/<host>`: the user part is `zookeeper.sasl.client.username`
//! ([`KerberosOptions::with_service`]), the host the one of the connect string entry being
//! connected to, replaced by its canonical name from a reverse lookup unless
//! `zookeeper.sasl.client.canonicalize.hostname=false`; `zookeeper.server.principal`
//! replaces the whole of it ([`KerberosOptions::with_server_principal`]), and a principal
//! without a realm gets `zookeeper.server.realm` or the client's realm. Here:
//! - canonicalizing (the default): the hostbased name `zookeeper@<host>`, which MIT
//!   canonicalizes per krb5.conf (`dns_canonicalize_hostname`, `rdns`: by default forward
//!   then reverse lookup, close to Java's reverse lookup) and maps to a realm
//!   (`[domain_realm]`);
//! - not canonicalizing ([`KerberosOptions::canonicalize_hostname`]`(false)`): exactly
//!   `zookeeper/<host>@<realm>`;
//! - a configured server principal: exactly that, with the realm added as Java adds it.
//!
//! # Blocking
//! Acquiring credentials and the first `gss_init_sec_context` talk to the KDC
//! synchronously (a ticket request per new connection). The driver runs them on a blocking
//! thread before each connection (`Driver::start_sasl`), so a slow or silent KDC holds up
//! that session only, never a runtime worker; MIT's own timeouts bound the wait. The later
//! steps of the exchange are local and run inline.

use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL};
use zk_proto::sasl::{GssInitiator, GssapiClient};

/// The service name Java's client asks a ticket for (`zookeeper.sasl.client.username`).
pub const DEFAULT_SERVICE: &str = "zookeeper";

/// How a client authenticates with Kerberos (see the module docs).
///
/// ```
/// use zk_client::kerberos::KerberosOptions;
/// let opts = KerberosOptions::new("alice@EXAMPLE.COM").with_keytab("/etc/alice.keytab");
/// let sasl = zk_client::SaslOptions::from(opts);
/// assert_eq!(sasl.username(), "alice@EXAMPLE.COM");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosOptions {
    principal: Option<String>,
    keytab: Option<PathBuf>,
    ccache: Option<String>,
    service: String,
    server_principal: Option<String>,
    server_realm: Option<String>,
    canonicalize: bool,
}

impl KerberosOptions {
    /// As `principal` (`alice@REALM`; without a realm, krb5.conf's `default_realm`), with
    /// its tickets from the default credential cache unless a keytab or cache is given.
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: Some(principal.into()),
            ..Self::default_principal()
        }
    }

    /// As whoever the credential cache holds tickets for.
    pub fn default_principal() -> Self {
        Self {
            principal: None,
            keytab: None,
            ccache: None,
            service: DEFAULT_SERVICE.to_owned(),
            server_principal: None,
            server_realm: None,
            canonicalize: true,
        }
    }

    /// Get tickets with the key in this keytab (JAAS `useKeyTab=true keyTab="..."`).
    pub fn with_keytab(mut self, keytab: impl AsRef<Path>) -> Self {
        self.keytab = Some(keytab.as_ref().to_path_buf());
        self
    }

    /// Use this credential cache (`FILE:/tmp/krb5cc_1000`, a plain path, `KEYRING:...`)
    /// instead of the default one (JAAS `ticketCache`).
    pub fn with_ccache(mut self, ccache: impl Into<String>) -> Self {
        self.ccache = Some(ccache.into());
        self
    }

    /// The service part of the server's principal (`zookeeper.sasl.client.username`,
    /// default [`DEFAULT_SERVICE`]).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The server's whole principal, `zookeeper/host` or `zookeeper/host@REALM`, whatever
    /// server is connected to (`zookeeper.server.principal`).
    pub fn with_server_principal(mut self, principal: impl Into<String>) -> Self {
        self.server_principal = Some(principal.into());
        self
    }

    /// The server's realm when its principal names none (`zookeeper.server.realm`; default
    /// the client's).
    pub fn with_server_realm(mut self, realm: impl Into<String>) -> Self {
        self.server_realm = Some(realm.into());
        self
    }

    /// Whether the server's host name is canonicalized
    /// (`zookeeper.sasl.client.canonicalize.hostname`, default true).
    pub fn canonicalize_hostname(mut self, canonicalize: bool) -> Self {
        self.canonicalize = canonicalize;
        self
    }

    /// The client principal, if one was named.
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// The keytab, if any.
    pub fn keytab(&self) -> Option<&Path> {
        self.keytab.as_deref()
    }

    /// The realm to give a server principal that names none.
    fn realm_for_server(&self) -> Option<&str> {
        self.server_realm.as_deref().or_else(|| {
            self.principal
                .as_deref()
                .and_then(|p| p.rsplit_once('@'))
                .map(|(_, realm)| realm)
        })
    }

    /// The target name for a server reached as `host` (see the module docs): the name
    /// text and whether it is hostbased (`service@host`) rather than a krb5 principal.
    pub(crate) fn target(&self, host: &str) -> (String, bool) {
        let with_realm = |p: String| match self.realm_for_server() {
            Some(realm) if !p.contains('@') => format!("{p}@{realm}"),
            _ => p,
        };
        match &self.server_principal {
            Some(p) => (with_realm(p.clone()), false),
            None if self.canonicalize => (format!("{}@{host}", self.service), true),
            None => (with_realm(format!("{}/{host}", self.service)), false),
        }
    }

    /// A mechanism for one exchange with the server reached as `host`: credentials
    /// acquired, context not yet started.
    pub(crate) fn mechanism(&self, host: &str) -> Result<GssapiClient<Krb5Initiator>, String> {
        let cred = self
            .acquire()
            .map_err(|e| format!("acquiring credentials: {e}"))?;
        let authzid = cred
            .name()
            .and_then(|n| n.display_name())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("naming the credential's principal: {e}"))?;
        let (target, hostbased) = self.target(host);
        let kind = if hostbased {
            GSS_NT_HOSTBASED_SERVICE
        } else {
            GSS_NT_KRB5_PRINCIPAL
        };
        let name = Name::new(target.as_bytes(), Some(kind))
            .map_err(|e| format!("service principal {target:?}: {e}"))?;
        let ctx = ClientCtx::new(
            Some(cred),
            name,
            CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_INTEG_FLAG,
            Some(GSS_MECH_KRB5),
        );
        tracing::debug!(principal = %authzid, %target, hostbased, "GSSAPI context created");
        Ok(GssapiClient::new(Krb5Initiator { ctx }, authzid))
    }

    fn acquire(&self) -> Result<Cred, String> {
        let mut store: Vec<(&str, String)> = Vec::new();
        if let Some(keytab) = &self.keytab {
            if !keytab.is_file() {
                return Err(format!(
                    "keytab {} is not a readable file",
                    keytab.display()
                ));
            }
            store.push(("client_keytab", format!("FILE:{}", keytab.display())));
            if self.ccache.is_none() {
                // A private cache, so a keytab login never touches the user's tickets.
                let id: u64 = rand::random();
                store.push(("ccache", format!("MEMORY:zk-client-{id:016x}")));
            }
        }
        if let Some(ccache) = &self.ccache {
            store.push(("ccache", ccache.clone()));
        }
        if store.is_empty() {
            let name = match &self.principal {
                Some(p) => Some(
                    Name::new(p.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
                        .map_err(|e| format!("principal {p:?}: {e}"))?,
                ),
                None => None,
            };
            return Cred::acquire(name.as_ref(), None, CredUsage::Initiate, None)
                .map_err(|e| e.to_string());
        }
        acquire_from(self.principal.as_deref(), &store)
    }
}

/// `gss_acquire_cred_from` (MIT's credential-store extension, which libgssapi does not
/// wrap): initiator credentials for `principal` from the `store` entries.
fn acquire_from(principal: Option<&str>, store: &[(&str, String)]) -> Result<Cred, String> {
    use libgssapi_sys as sys;
    let pairs = store
        .iter()
        .map(|(k, v)| Ok((CString::new(*k)?, CString::new(v.as_str())?)))
        .collect::<Result<Vec<_>, std::ffi::NulError>>()
        .map_err(|e| format!("credential store entry: {e}"))?;
    let mut elements: Vec<sys::gss_key_value_element_desc> = pairs
        .iter()
        .map(|(k, v)| sys::gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let set = sys::gss_key_value_set_desc {
        count: elements.len() as sys::OM_uint32,
        elements: elements.as_mut_ptr(),
    };
    let mut minor: sys::OM_uint32 = 0;
    let mut name: sys::gss_name_t = ptr::null_mut();
    if let Some(p) = principal {
        let mut buf = sys::gss_buffer_desc {
            length: p.len(),
            value: p.as_ptr() as *mut std::ffi::c_void,
        };
        // SAFETY: buf points at p, alive for the call; GSS_C_NT_USER_NAME is MIT's static
        // OID; the imported name is released below.
        let major = unsafe {
            sys::gss_import_name(&mut minor, &mut buf, sys::GSS_C_NT_USER_NAME, &mut name)
        };
        if major != 0 {
            return Err(format!(
                "principal {p:?} cannot be imported ({})",
                status(major, minor)
            ));
        }
    }
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `set` borrows `elements`, which borrows
    // `pairs`; `name` is null or imported above; outputs we do not want are null.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
            &set,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if !name.is_null() {
        let mut release_minor = 0;
        // SAFETY: `name` came from gss_import_name and is released once.
        unsafe { sys::gss_release_name(&mut release_minor, &mut name) };
    }
    if major != 0 {
        return Err(status(major, minor));
    }
    // SAFETY: a credential gss_acquire_cred_from just made; Cred releases it on drop.
    Ok(unsafe { Cred::from_c(cred) })
}

fn status(major: u32, minor: u32) -> String {
    libgssapi::error::Error {
        major: libgssapi::error::MajorFlags::from_bits_retain(major),
        minor,
    }
    .to_string()
}

/// [`GssInitiator`] over a libgssapi client context.
pub struct Krb5Initiator {
    ctx: ClientCtx,
}

impl fmt::Debug for Krb5Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Krb5Initiator").finish_non_exhaustive()
    }
}

impl GssInitiator for Krb5Initiator {
    type Error = libgssapi::error::Error;

    fn init(&mut self, input: Option<&[u8]>) -> Result<(Option<Vec<u8>>, bool), Self::Error> {
        let token = self.ctx.step(input, None)?;
        Ok((token.map(|b| b.to_vec()), self.ctx.is_complete()))
    }

    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, Self::Error> {
        Ok(self.ctx.wrap(false, message)?.to_vec())
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, Self::Error> {
        Ok(self.ctx.unwrap(token)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_follows_the_java_properties() {
        let alice = KerberosOptions::new("alice@A.TEST");
        assert_eq!(
            alice.target("zk1.example"),
            ("zookeeper@zk1.example".into(), true)
        );
        assert_eq!(
            alice
                .clone()
                .canonicalize_hostname(false)
                .target("zk1.example"),
            ("zookeeper/zk1.example@A.TEST".into(), false)
        );
        assert_eq!(
            alice
                .clone()
                .with_service("zk")
                .canonicalize_hostname(false)
                .with_server_realm("B.TEST")
                .target("h"),
            ("zk/h@B.TEST".into(), false)
        );
        assert_eq!(
            alice
                .clone()
                .with_server_principal("zookeeper/fixed")
                .target("h"),
            ("zookeeper/fixed@A.TEST".into(), false)
        );
        assert_eq!(
            KerberosOptions::default_principal()
                .with_server_principal("zookeeper/fixed@C.TEST")
                .target("h"),
            ("zookeeper/fixed@C.TEST".into(), false)
        );
    }
}
