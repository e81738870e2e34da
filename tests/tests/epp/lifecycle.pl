# An EPP lifecycle with Net::EPP::Client (libnet-epp-perl), run by tests/tests/epp.rs.
# Arguments: HOST PORT CERTDIR PASSWORD_X PASSWORD_Y KEEP_DOMAIN MOVED_DOMAIN
# Prints one line per command: "LABEL CODE", and some values: "LABEL.field VALUE".
use strict;
use warnings;
use Net::EPP::Client;

my ($host, $port, $certs, $pw_x, $pw_y, $keep, $moved) = @ARGV;
my $E = 'urn:ietf:params:xml:ns:epp-1.0';
my $D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"';
my $C = 'xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"';
my $H = 'xmlns:host="urn:ietf:params:xml:ns:host-1.0"';
my $COOP = 'http://www.nic.coop/contactCoopExt-1.0';
my $trid = 0;

sub connect_as {
    my ($name) = @_;
    my $epp = Net::EPP::Client->new(host => $host, port => $port, ssl => 1);
    my $greeting = $epp->connect(
        SSL_cert_file      => "$certs/$name.pem",
        SSL_key_file       => "$certs/$name.key",
        SSL_ca_file        => "$certs/ca.pem",
        SSL_verify_mode    => 1,
        SSL_verifycn_name  => 'localhost',
        SSL_verifycn_scheme => 'default',
        Timeout            => 20,
    );
    print "$name.greeting ", ($greeting =~ /<greeting>/ ? 'yes' : 'no'), "\n";
    return $epp;
}

# Sends a command (INNER, and an EXTENSION if any) and prints "LABEL CODE"; returns the
# answer.
sub cmd {
    my ($epp, $label, $inner, $ext) = @_;
    $trid++;
    my $extension = defined($ext) ? "<extension>$ext</extension>" : '';
    my $frame = qq{<?xml version="1.0" encoding="UTF-8"?><epp xmlns="$E"><command>$inner$extension<clTRID>T-$trid</clTRID></command></epp>};
    my $answer = $epp->request($frame);
    die "$label: no answer\n" unless defined($answer);
    my ($code) = $answer =~ /<result code="(\d{4})"/;
    die "$label: no result code in: $answer\n" unless defined($code);
    die "$label: clTRID not echoed: $answer\n" unless $answer =~ m{<clTRID>T-$trid</clTRID>};
    print "$label $code\n";
    return $answer;
}

sub login {
    my ($epp, $label, $id, $pw) = @_;
    return cmd($epp, $label, qq{<login><clID>$id</clID><pw>$pw</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI><objURI>urn:ietf:params:xml:ns:host-1.0</objURI><svcExtension><extURI>$COOP</extURI></svcExtension></svcs></login>});
}

sub contact_create {
    my ($epp, $label, $id, $ext) = @_;
    return cmd($epp, $label, qq{<create><contact:create $C><contact:id>$id</contact:id><contact:postalInfo type="int"><contact:name>Test $id</contact:name><contact:org>Test Co-operative</contact:org><contact:addr><contact:street>1 Holyoake Way</contact:street><contact:city>Manchester</contact:city><contact:pc>M1 1AA</contact:pc><contact:cc>GB</contact:cc></contact:addr></contact:postalInfo><contact:voice>+44.1612345678</contact:voice><contact:email>$id\@example.coop</contact:email><contact:authInfo><contact:pw>c0ntact-$id</contact:pw></contact:authInfo></contact:create></create>}, $ext);
}

sub domain_create {
    my ($epp, $label, $name) = @_;
    return cmd($epp, $label, qq{<create><domain:create $D><domain:name>$name</domain:name><domain:period unit="y">2</domain:period><domain:registrant>epp-reg</domain:registrant><domain:contact type="admin">epp-sp1</domain:contact><domain:contact type="tech">epp-sp2</domain:contact><domain:authInfo><domain:pw>d0main-Secret</domain:pw></domain:authInfo></domain:create></create>});
}

sub domain_info {
    my ($epp, $label, $name) = @_;
    my $a = cmd($epp, $label, qq{<info><domain:info $D><domain:name hosts="all">$name</domain:name></domain:info></info>});
    for my $f (qw(clID exDate)) {
        my ($v) = $a =~ m{<domain:$f>([^<]*)</domain:$f>};
        print "$label.$f ", ($v // '-'), "\n";
    }
    my @ns = $a =~ m{<domain:hostObj>([^<]*)</domain:hostObj>}g;
    print "$label.ns ", (@ns ? join(',', @ns) : '-'), "\n";
    return $a;
}

sub poll_and_ack {
    my ($epp, $label) = @_;
    my $a = cmd($epp, "$label.req", q{<poll op="req"/>});
    my ($id) = $a =~ /<msgQ[^>]*\bid="([^"]+)"/;
    die "$label: no message id in: $a\n" unless defined($id);
    my ($status) = $a =~ /\btrStatus>([^<]*)</;
    print "$label.trStatus ", ($status // '-'), "\n";
    cmd($epp, "$label.ack", qq{<poll op="ack" msgID="$id"/>});
}

my $x = connect_as('ClientX');
login($x, 'x.login', 'ClientX', $pw_x);
contact_create($x, 'x.contact.sp1', 'epp-sp1');
contact_create($x, 'x.contact.sp2', 'epp-sp2');
contact_create($x, 'x.contact.reg', 'epp-reg',
    qq{<coop:create xmlns:coop="$COOP"><coop:sponsor>epp-sp1</coop:sponsor><coop:sponsor>epp-sp2</coop:sponsor></coop:create>});
contact_create($x, 'x.contact.again', 'epp-sp1');
domain_create($x, 'x.create.keep', $keep);
cmd($x, 'x.host.create', qq{<create><host:create $H><host:name>ns1.$keep</host:name><host:addr ip="v4">192.0.2.53</host:addr></host:create></create>});
cmd($x, 'x.update.keep', qq{<update><domain:update $D><domain:name>$keep</domain:name><domain:add><domain:ns><domain:hostObj>ns1.$keep</domain:hostObj></domain:ns></domain:add></domain:update></update>});
domain_info($x, 'x.info.keep', $keep);
domain_create($x, 'x.create.moved', $moved);

my $y = connect_as('ClientY');
login($y, 'y.login', 'ClientY', $pw_y);
cmd($y, 'y.transfer.badpw', qq{<transfer op="request"><domain:transfer $D><domain:name>$moved</domain:name><domain:authInfo><domain:pw>wrong-one</domain:pw></domain:authInfo></domain:transfer></transfer>});
cmd($y, 'y.transfer.request', qq{<transfer op="request"><domain:transfer $D><domain:name>$moved</domain:name><domain:period unit="y">1</domain:period><domain:authInfo><domain:pw>d0main-Secret</domain:pw></domain:authInfo></domain:transfer></transfer>});
cmd($y, 'y.update.moved', qq{<update><domain:update $D><domain:name>$moved</domain:name><domain:chg><domain:authInfo><domain:pw>by-Y-1</domain:pw></domain:authInfo></domain:chg></domain:update></update>});
poll_and_ack($x, 'x.poll');
cmd($x, 'x.transfer.approve', qq{<transfer op="approve"><domain:transfer $D><domain:name>$moved</domain:name></domain:transfer></transfer>});
poll_and_ack($y, 'y.poll');
my $info = domain_info($y, 'y.info.moved', $moved);
my ($exp) = $info =~ m{<domain:exDate>(\d{4}-\d\d-\d\d)};
die "no exDate\n" unless defined($exp);
cmd($y, 'y.renew.moved', qq{<renew><domain:renew $D><domain:name>$moved</domain:name><domain:curExpDate>$exp</domain:curExpDate><domain:period unit="y">1</domain:period></domain:renew></renew>});
domain_info($y, 'y.info.renewed', $moved);
cmd($x, 'x.delete.moved', qq{<delete><domain:delete $D><domain:name>$moved</domain:name></domain:delete></delete>});
cmd($y, 'y.delete.moved', qq{<delete><domain:delete $D><domain:name>$moved</domain:name></domain:delete></delete>});
cmd($y, 'y.logout', q{<logout/>});
cmd($x, 'x.logout', q{<logout/>});
print "done\n";
