//! The EPP requests `epp-load` sends, as complete documents (RFC 5730-5733 and the .coop
//! contact extension). Values are the generator's own (names, ids, passwords without
//! markup characters), so nothing is escaped.

/// EPP namespace.
pub const EPP: &str = "urn:ietf:params:xml:ns:epp-1.0";
/// Domain mapping.
pub const DOMAIN: &str = "urn:ietf:params:xml:ns:domain-1.0";
/// Contact mapping.
pub const CONTACT: &str = "urn:ietf:params:xml:ns:contact-1.0";
/// Host mapping.
pub const HOST: &str = "urn:ietf:params:xml:ns:host-1.0";
/// The .coop contact extension.
pub const COOP: &str = "http://www.nic.coop/contactCoopExt-1.0";

/// The authInfo password of every domain `epp-load` creates (transfer requests need it).
pub const DOMAIN_PW: &str = "el-Auth-2026";

fn command(inner: &str, ext: &str, trid: &str) -> String {
    let ext = if ext.is_empty() {
        String::new()
    } else {
        format!("<extension>{ext}</extension>")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><command>{inner}{ext}<clTRID>{trid}</clTRID></command></epp>"#
    )
}

/// `<hello/>` (answered with the greeting).
pub fn hello() -> String {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><hello/></epp>"#)
}

/// Login with the domain, contact and host services and the .coop extension.
pub fn login(cl_id: &str, pw: &str, trid: &str) -> String {
    command(
        &format!(
            "<login><clID>{cl_id}</clID><pw>{pw}</pw><options><version>1.0</version>\
             <lang>en</lang></options><svcs><objURI>{DOMAIN}</objURI><objURI>{CONTACT}</objURI>\
             <objURI>{HOST}</objURI><svcExtension><extURI>{COOP}</extURI></svcExtension></svcs>\
             </login>"
        ),
        "",
        trid,
    )
}

/// Logout.
pub fn logout(trid: &str) -> String {
    command("<logout/>", "", trid)
}

/// A contact; with `sponsors`, a .coop registrant (the extension names its sponsors).
pub fn contact_create(id: &str, sponsors: &[&str], trid: &str) -> String {
    let inner = format!(
        r#"<create><contact:create xmlns:contact="{CONTACT}"><contact:id>{id}</contact:id><contact:postalInfo type="int"><contact:name>Load {id}</contact:name><contact:org>Load Co-operative</contact:org><contact:addr><contact:street>1 Holyoake Way</contact:street><contact:city>Manchester</contact:city><contact:pc>M1 1AA</contact:pc><contact:cc>GB</contact:cc></contact:addr></contact:postalInfo><contact:voice>+44.1612345678</contact:voice><contact:email>{id}@example.coop</contact:email><contact:authInfo><contact:pw>c-{id}-pw</contact:pw></contact:authInfo></contact:create></create>"#
    );
    let ext = if sponsors.is_empty() {
        String::new()
    } else {
        let s: String = sponsors
            .iter()
            .map(|s| format!("<coop:sponsor>{s}</coop:sponsor>"))
            .collect();
        format!(r#"<coop:create xmlns:coop="{COOP}">{s}</coop:create>"#)
    };
    command(&inner, &ext, trid)
}

/// A domain for one year with a registrant, admin and tech contacts, and [`DOMAIN_PW`].
pub fn domain_create(name: &str, registrant: &str, admin: &str, tech: &str, trid: &str) -> String {
    command(
        &format!(
            r#"<create><domain:create xmlns:domain="{DOMAIN}"><domain:name>{name}</domain:name><domain:period unit="y">1</domain:period><domain:registrant>{registrant}</domain:registrant><domain:contact type="admin">{admin}</domain:contact><domain:contact type="tech">{tech}</domain:contact><domain:authInfo><domain:pw>{DOMAIN_PW}</domain:pw></domain:authInfo></domain:create></create>"#
        ),
        "",
        trid,
    )
}

/// Domain info (`hosts="all"`).
pub fn domain_info(name: &str, trid: &str) -> String {
    command(
        &format!(
            r#"<info><domain:info xmlns:domain="{DOMAIN}"><domain:name hosts="all">{name}</domain:name></domain:info></info>"#
        ),
        "",
        trid,
    )
}

/// Domain update: the authInfo set again (a real write: the record's update date changes;
/// transfers keep working with [`DOMAIN_PW`]).
pub fn domain_update(name: &str, trid: &str) -> String {
    command(
        &format!(
            r#"<update><domain:update xmlns:domain="{DOMAIN}"><domain:name>{name}</domain:name><domain:chg><domain:authInfo><domain:pw>{DOMAIN_PW}</domain:pw></domain:authInfo></domain:chg></domain:update></update>"#
        ),
        "",
        trid,
    )
}

/// Domain renew by a year; `cur_exp` is `YYYY-MM-DD`.
pub fn domain_renew(name: &str, cur_exp: &str, trid: &str) -> String {
    command(
        &format!(
            r#"<renew><domain:renew xmlns:domain="{DOMAIN}"><domain:name>{name}</domain:name><domain:curExpDate>{cur_exp}</domain:curExpDate><domain:period unit="y">1</domain:period></domain:renew></renew>"#
        ),
        "",
        trid,
    )
}

/// Transfer request (with [`DOMAIN_PW`]).
pub fn domain_transfer_request(name: &str, trid: &str) -> String {
    command(
        &format!(
            r#"<transfer op="request"><domain:transfer xmlns:domain="{DOMAIN}"><domain:name>{name}</domain:name><domain:period unit="y">1</domain:period><domain:authInfo><domain:pw>{DOMAIN_PW}</domain:pw></domain:authInfo></domain:transfer></transfer>"#
        ),
        "",
        trid,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_documents_with_their_trid() {
        for doc in [
            login("ClientX", "pw-123456", "T-1"),
            contact_create("c1", &["a", "b"], "T-1"),
            domain_create("a.coop", "r", "a", "t", "T-1"),
            domain_info("a.coop", "T-1"),
            domain_update("a.coop", "T-1"),
            domain_renew("a.coop", "2027-01-01", "T-1"),
            domain_transfer_request("a.coop", "T-1"),
            logout("T-1"),
        ] {
            assert!(doc.starts_with("<?xml") && doc.ends_with("</epp>"), "{doc}");
            assert!(doc.contains("<clTRID>T-1</clTRID>"), "{doc}");
        }
        assert!(contact_create("c1", &["a", "b"], "T").contains("<coop:sponsor>b</coop:sponsor>"));
        assert!(!contact_create("c1", &[], "T").contains("extension"));
        assert!(hello().contains("<hello/>"));
    }
}
