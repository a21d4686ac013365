//! The command line: every command, option and help text (clap derive). Parsing only;
//! each command's behaviour lives in its own module.

use clap::{Args, Parser, Subcommand};

/// Printed after the top-level `--help`: scripts rely on these.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  any other failure (not authorized, invalid rule, unreadable file, ...)
  2  usage error (bad arguments or options)
  3  not found (node, service or rule)
  4  conflict (node exists, bad version, node not empty)
  5  connection failure (no server reachable, connection lost, session expired,
     TLS handshake refused or untrusted; for `ensemble`, a member that does not
     answer)

Environment:
  ZK_HOSTS     default for --server
  ZK_CHROOT    default for --chroot
  ZK_AUTH      default for --auth
  ZK_TLS, ZK_TLS_CA, ZK_TLS_CERT, ZK_TLS_KEY   defaults for the --tls options
  ZK_SASL, ZK_JAAS   defaults for --sasl and --jaas
  ZK_CONSOLE_TOKEN   default for `console --token`";

/// zkctl: inspect and change a ZooKeeper ensemble — nodes, ACLs, watches, discovered
/// services, routing rules and member status.
#[derive(Debug, Parser)]
#[command(name = "zkctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Servers to connect to, comma-separated; may end with a chroot (`h1:2181,h2:2181/app`).
    #[arg(
        long,
        global = true,
        env = "ZK_HOSTS",
        default_value = "127.0.0.1:2181",
        value_name = "HOST:PORT,..."
    )]
    pub server: String,

    /// Run every command under this path (overrides a chroot in --server).
    #[arg(long, global = true, env = "ZK_CHROOT", value_name = "PATH")]
    pub chroot: Option<String>,

    /// Digest credentials to authenticate with.
    #[arg(
        long,
        global = true,
        env = "ZK_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub auth: Option<String>,

    /// Connect over TLS (the servers' `secureClientPort`), trusting the system's roots
    /// unless --tls-ca names a CA bundle.
    #[arg(long, global = true, env = "ZK_TLS")]
    pub tls: bool,

    /// Connect over TLS, trusting the CA certificates in this PEM file.
    #[arg(long, global = true, env = "ZK_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// A client certificate (PEM) for mutual TLS; needs --tls-key.
    #[arg(
        long,
        global = true,
        env = "ZK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The client certificate's private key (PEM); needs --tls-cert.
    #[arg(
        long,
        global = true,
        env = "ZK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,

    /// Connect over TLS as a Java client configured by this properties file would
    /// (`zookeeper.ssl.keyStore.*`, `zookeeper.ssl.trustStore.*` with PEM, PKCS#12 or JKS
    /// stores and their passwords, `zookeeper.ssl.hostnameVerification`): the file
    /// Kafka's tools take as `--zk-tls-config-file`.
    #[arg(
        long,
        global = true,
        env = "ZK_TLS_CONFIG",
        value_name = "FILE",
        conflicts_with_all = ["tls_ca", "tls_cert", "tls_key"]
    )]
    pub tls_config: Option<std::path::PathBuf>,

    /// SASL DIGEST-MD5 credentials to authenticate every connection with.
    #[arg(
        long,
        global = true,
        env = "ZK_SASL",
        value_name = "USER:PASSWORD",
        hide_env_values = true,
        conflicts_with = "jaas"
    )]
    pub sasl: Option<String>,

    /// SASL credentials from the `Client` section of this JAAS file, as the Java client
    /// reads `java.security.auth.login.config`.
    #[arg(long, global = true, env = "ZK_JAAS", value_name = "FILE")]
    pub jaas: Option<std::path::PathBuf>,

    /// Seconds to wait for a session, and for each request.
    #[arg(long, global = true, default_value_t = 5, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Print results as JSON (errors as a JSON object on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Commands on nodes.
    #[command(flatten)]
    Node(NodeCommand),
    /// Services registered in Curator's layout (`/services/{name}/{id}`).
    #[command(subcommand)]
    Services(ServicesCommand),
    /// Routing rules (`/routes/{service}`): read, check, store, compare.
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Which endpoint a request would be sent to, and why (route, subset, policy).
    Route(RouteArgs),
    /// Each member's mode, zxid, connections and lag behind the leader (the `srvr`
    /// four-letter word; exit code 5 if any member does not answer).
    Ensemble,
    /// Serve the web console: live services, routing rules with their split and a
    /// request tester, the znode tree, and the ensemble's members.
    Console(ConsoleArgs),
    /// Print a shell completion script, e.g. `zkctl completions bash > /etc/bash_completion.d/zkctl`.
    Completions(CompletionsArgs),
}

/// The commands on nodes, run over one session.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the children of a node.
    Ls(LsArgs),
    /// Print a node's data.
    Get(GetArgs),
    /// Replace a node's data.
    Set(SetArgs),
    /// Create a node.
    Create(CreateArgs),
    /// Delete a node (or, with -r, its whole subtree).
    Delete(DeleteArgs),
    /// Print a node's Stat (versions, zxids, times, sizes).
    Stat(PathArgs),
    /// Print the events of a node (or, with -R, of its subtree) until Ctrl-C.
    Watch(WatchArgs),
    /// Read or replace a node's ACL.
    #[command(subcommand)]
    Acl(AclCommand),
}

/// A path alone.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// The node's path.
    pub path: String,
}

/// `ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The node whose children to list.
    #[arg(default_value = "/")]
    pub path: String,
    /// List the whole subtree, one full path per line (the node itself first).
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The node's path.
    pub path: String,
    /// Print the Stat too (on stderr for humans, so stdout stays the data).
    #[arg(long)]
    pub stat: bool,
}

/// `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The node's path.
    pub path: String,
    /// The new data (UTF-8).
    pub data: String,
    /// Only if the node's version is this one (fails with exit code 4 otherwise).
    #[arg(short = 'v', long)]
    pub version: Option<i32>,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The node's path (for -s, the prefix of the name).
    pub path: String,
    /// The node's data (UTF-8; empty when absent).
    pub data: Option<String>,
    /// Ephemeral: deleted when zkctl's session ends, i.e. as soon as zkctl exits.
    #[arg(short = 'e', long, conflicts_with_all = ["container", "ttl"])]
    pub ephemeral: bool,
    /// Sequential: the server appends a 10-digit counter to the name.
    #[arg(short = 's', long, conflicts_with = "container")]
    pub sequential: bool,
    /// Container: the server deletes it once its last child is gone.
    #[arg(short = 'c', long, conflicts_with = "ttl")]
    pub container: bool,
    /// Time to live in milliseconds: deleted when unmodified and childless that long.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl: Option<u64>,
    /// ACL entries, `scheme:id:perms` (perms from `cdrwa`); repeatable. Default: open.
    #[arg(long = "acl", value_name = "SCHEME:ID:PERMS")]
    pub acl: Vec<String>,
    /// Create missing parents (persistent, empty, open ACL).
    #[arg(short = 'p', long)]
    pub parents: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The node's path.
    pub path: String,
    /// Delete the node's descendants first.
    #[arg(short = 'r', long, conflicts_with = "version")]
    pub recursive: bool,
    /// Only if the node's version is this one (fails with exit code 4 otherwise).
    #[arg(short = 'v', long)]
    pub version: Option<i32>,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The node to watch (it need not exist yet).
    pub path: String,
    /// Watch the whole subtree.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// `acl get|set`.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Print a node's ACL, one `scheme:id:perms` per line.
    Get(PathArgs),
    /// Replace a node's ACL.
    Set(AclSetArgs),
}

/// `acl set`.
#[derive(Debug, Args)]
pub struct AclSetArgs {
    /// The node's path.
    pub path: String,
    /// The new entries, `scheme:id:perms`, e.g. `world:anyone:r`,
    /// `digest:alice:<base64 sha1>:cdrwa`, `auth::cdrwa`.
    #[arg(required = true, value_name = "SCHEME:ID:PERMS")]
    pub acl: Vec<String>,
    /// Only if the node's ACL version is this one (fails with exit code 4 otherwise).
    #[arg(short = 'v', long)]
    pub version: Option<i32>,
}

/// `services list|show`.
#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// Every service and its number of instances.
    List,
    /// A service's instances: id, address, registration time, payload.
    Show(ServiceArgs),
}

/// A service name.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The service's name.
    pub name: String,
}

/// `routes get|validate|put|diff`.
#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Print a service's rule (JSON on stdout) and its version (on stderr).
    Get(RuleArgs),
    /// Check a rule file against the schema and the service's live instances
    /// (exit code 1 when invalid; subsets that select no instance are warnings).
    Validate(RuleFileArgs),
    /// Store a rule file: checked first, then written only if the rule is still at the
    /// version read (or --version), else exit code 4.
    Put(RulePutArgs),
    /// Show how a rule file differs from the stored rule (keys sorted, formatting ignored).
    Diff(RuleFileArgs),
}

/// A service's rule.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// The service.
    pub service: String,
    /// Where the rule is stored (default `/routes/{service}`).
    #[arg(long, value_name = "PATH")]
    pub rule_path: Option<String>,
}

/// A service's rule and a local rule file.
#[derive(Debug, Args)]
pub struct RuleFileArgs {
    /// The service.
    pub service: String,
    /// The rule file (JSON; `-` for stdin).
    pub file: std::path::PathBuf,
    /// Where the rule is stored (default `/routes/{service}`).
    #[arg(long, value_name = "PATH")]
    pub rule_path: Option<String>,
}

/// `routes put`.
#[derive(Debug, Args)]
pub struct RulePutArgs {
    /// The service, file and rule path.
    #[command(flatten)]
    pub target: RuleFileArgs,
    /// Write only if the stored rule is at this version (the one `routes get` showed);
    /// default: the version read just before writing.
    #[arg(short = 'v', long)]
    pub version: Option<i32>,
    /// Write even when the check has warnings (never when it has errors).
    #[arg(long)]
    pub force: bool,
}

/// `route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The service.
    pub service: String,
    /// The request's method (e.g. a gRPC method name).
    #[arg(long, short = 'm', default_value = "")]
    pub method: String,
    /// The request's path.
    #[arg(long, default_value = "")]
    pub path: String,
    /// A request header; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// A tag of the caller; repeatable.
    #[arg(long = "caller-tag", value_name = "TAG")]
    pub caller_tags: Vec<String>,
    /// The caller's identity (consistent hashing without a header hashes it).
    #[arg(long, default_value = "")]
    pub caller_id: String,
    /// Route with this rule file instead of the stored rule (to preview a change).
    #[arg(long, value_name = "FILE")]
    pub rule_file: Option<std::path::PathBuf>,
    /// Where the rule is stored (default `/routes/{service}`).
    #[arg(long, value_name = "PATH")]
    pub rule_path: Option<String>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `NAME=VALUE`, with a non-empty name.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // clap checks names, conflicts and defaults only when a command is built: this
        // builds every one, so a clash fails here rather than in a user's hands.
        super::Cli::command().debug_assert();
    }
}

/// `console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Address to serve on. Loopback by default: anyone who can reach the console sees
    /// what the session can read.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Allow saving routing rules and editing node data (read-only without it).
    #[arg(long)]
    pub allow_writes: bool,
    /// Require this bearer token on every request (`Authorization: Bearer …`, or open
    /// `/?token=…` once in a browser, which keeps it in a cookie).
    #[arg(
        long,
        env = "ZK_CONSOLE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}
