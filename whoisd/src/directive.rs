//! The directives of the Public Whois Specification that this server offers: their names,
//! descriptions and case-insensitive lookup. The behaviour of each lives in
//! [`crate::session`]; this module is only the table, shared with `-directive`.

/// A directive offered on the port-43 service (RFC 2167 semantics, plain-whois output).
///
/// `-X-pgp` (the PGP key server gateway) is listed by the specification but not offered:
/// it is answered like any unknown directive (`%error 400`) and `-directive` omits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
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
    /// `-security on|off ...`: authentication (no methods implemented yet).
    Security,
    /// `-notify badref|recurref|update|inssec|delsec ...`: client notices.
    Notify,
    /// `-quit`: end the session.
    Quit,
    /// `-register ...`: record submission (refused: operators only).
    Register,
    /// `-schema [area] [class..]`: attributes of classes.
    Schema,
    /// `-soa [area..]`: the authority area's start of authority.
    Soa,
    /// `-status`: session and database status.
    Status,
    /// `-xfer [area] [class] [attribute..]`: bulk transfer for permitted mirrors.
    Xfer,
    /// `-X-date`: the server's current UTC time (the example extension).
    XDate,
}

impl Directive {
    /// Every offered directive, in the specification's order.
    pub const OFFERED: [Directive; 15] = [
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

    /// The offered directive called `name` (without `-`), case-insensitively.
    pub fn lookup(name: &str) -> Option<Directive> {
        Self::OFFERED
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
        assert_eq!(Directive::lookup("rwhois"), None);
        assert_eq!(Directive::lookup("lim"), None);
        assert_eq!(Directive::lookup(""), None);
        for d in Directive::OFFERED {
            assert_eq!(Directive::lookup(d.name()), Some(d));
        }
    }
}
