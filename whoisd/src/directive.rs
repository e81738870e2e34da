//! The directives this server knows (those of the Public Whois Specification and RFC 2167):
//! their names, descriptions, RFC 2167 capability bits and case-insensitive lookup. The
//! behaviour of each lives in [`crate::session`], which also decides which of them a session
//! *offers* (lists in `-directive` and in the RWhois banner's capability ID): that depends on
//! the dialect and on what the server configured (see `SessionConfig::offers`). This module
//! is only the table.

/// A directive known to the whois service (RFC 2167 semantics).
///
/// `-X-pgp` (the PGP key server gateway) is listed by the specification but not known here:
/// it is answered like any unknown directive (`%error 400`) and `-directive` omits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// `-rwhois V-1.5 [implementation]`: the banner again (RWhois dialect only).
    Rwhois,
    /// `-class [area] [class..]`: meta-information about classes.
    Class,
    /// `-directive [name]`: the offered directives.
    Directive,
    /// `-display [name]`: list or choose the display type.
    Display,
    /// `-forward on|off`: referral forwarding flag (referrals are never followed).
    Forward,
    /// `-holdconnect on|off`: keep the connection open after a query.
    Holdconnect,
    /// `-limit [N]`: show or set the hit limit.
    Limit,
    /// `-security on request password <name> <password> | -security off`: operator
    /// authentication (offered only when operators are configured).
    Security,
    /// `-notify badref|recurref|update|inssec|delsec ...`: client notices.
    Notify,
    /// `-quit`: end the session.
    Quit,
    /// `-register on add|mod|del <maintainer-id>` ... `-register off`: record submission by
    /// operators authenticated with `-security`, through the change spool (compare-and-swap
    /// for mod and del; see [`crate::register`]). Offered only when the server has a spool
    /// (`whoisd --spool`) and operators; refused with 401 to anyone not authenticated.
    Register,
    /// `-schema [area] [class..]`: attributes of classes.
    Schema,
    /// `-soa [area..]`: the authority area's start of authority.
    Soa,
    /// `-status`: session and database status.
    Status,
    /// `-xfer [area] [class] [attribute..]`: bulk transfer for permitted mirrors and
    /// authenticated operators.
    Xfer,
    /// `-X-date`: the server's current UTC time (the example extension).
    XDate,
}

impl Directive {
    /// Every known directive, in the specification's order (`-rwhois` first, as in RFC 2167).
    pub const ALL: [Directive; 16] = [
        Directive::Rwhois,
        Directive::Class,
        Directive::Directive,
        Directive::Display,
        Directive::Forward,
        Directive::Holdconnect,
        Directive::Limit,
        Directive::Security,
        Directive::Notify,
        Directive::Quit,
        Directive::Register,
        Directive::Schema,
        Directive::Soa,
        Directive::Status,
        Directive::Xfer,
        Directive::XDate,
    ];

    /// The directive's name without the leading `-`, as the specification spells it.
    pub fn name(self) -> &'static str {
        match self {
            Directive::Rwhois => "rwhois",
            Directive::Class => "class",
            Directive::Directive => "directive",
            Directive::Display => "display",
            Directive::Forward => "forward",
            Directive::Holdconnect => "holdconnect",
            Directive::Limit => "limit",
            Directive::Security => "security",
            Directive::Notify => "notify",
            Directive::Quit => "quit",
            Directive::Register => "register",
            Directive::Schema => "schema",
            Directive::Soa => "soa",
            Directive::Status => "status",
            Directive::Xfer => "xfer",
            Directive::XDate => "X-date",
        }
    }

    /// The specification's one-line description.
    pub fn description(self) -> &'static str {
        match self {
            Directive::Rwhois => "RWhois protocol version and capabilities",
            Directive::Class => "get meta-information for the class(es)",
            Directive::Directive => "get server allowable directives",
            Directive::Display => "sets/displays the display types",
            Directive::Forward => "server forward boolean",
            Directive::Holdconnect => "hold the connection boolean",
            Directive::Limit => "displays and sets record hit limit",
            Directive::Security => "identify the authentication method",
            Directive::Notify => "tell server of bad referral or data change",
            Directive::Quit => "quit connection",
            Directive::Register => "add/mod/delete record in server",
            Directive::Schema => "get the schema of an object",
            Directive::Soa => "ask server's authority area",
            Directive::Status => "server's status",
            Directive::Xfer => "transfer data from the server",
            Directive::XDate => "an example of an extended directive",
        }
    }

    /// The directive's bit in the RWhois capability ID (RFC 2167 Appendix D); 0 for
    /// `-rwhois`, which every server must implement and which has no bit. `-X-date` sets the
    /// bit of the `-X` extensions.
    pub fn capability(self) -> u32 {
        match self {
            Directive::Rwhois => 0,
            Directive::Class => 0x00_0001,
            Directive::Directive => 0x00_0002,
            Directive::Display => 0x00_0004,
            Directive::Forward => 0x00_0008,
            Directive::Holdconnect => 0x00_0010,
            Directive::Limit => 0x00_0020,
            Directive::Notify => 0x00_0040,
            Directive::Quit => 0x00_0080,
            Directive::Register => 0x00_0100,
            Directive::Schema => 0x00_0200,
            Directive::Security => 0x00_0400,
            Directive::Soa => 0x00_0800,
            Directive::Status => 0x00_1000,
            Directive::Xfer => 0x00_2000,
            Directive::XDate => 0x00_4000,
        }
    }

    /// The known directive called `name` (without `-`), case-insensitively. Whether the
    /// session offers it is a separate question (`SessionConfig::offers`).
    pub fn lookup(name: &str) -> Option<Directive> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_exact() {
        assert_eq!(
            Directive::lookup("HoldConnect"),
            Some(Directive::Holdconnect)
        );
        assert_eq!(Directive::lookup("x-DATE"), Some(Directive::XDate));
        assert_eq!(Directive::lookup("X-pgp"), None);
        assert_eq!(Directive::lookup("RWHOIS"), Some(Directive::Rwhois));
        assert_eq!(Directive::lookup("lim"), None);
        assert_eq!(Directive::lookup(""), None);
        for d in Directive::ALL {
            assert_eq!(Directive::lookup(d.name()), Some(d));
        }
    }

    #[test]
    fn capability_bits_are_rfc_2167_appendix_d() {
        let all = Directive::ALL.iter().fold(0, |acc, d| acc | d.capability());
        // Fifteen distinct bits, the eight most significant reserved.
        assert_eq!(all, 0x00_7fff);
        let bits: u32 = Directive::ALL
            .iter()
            .map(|d| d.capability().count_ones())
            .sum();
        assert_eq!(bits, 15);
        assert_eq!(Directive::Xfer.capability(), 0x2000);
        assert_eq!(Directive::Security.capability(), 0x0400);
    }
}
