# Test stand-in for libpcsc-perl's Chipcard::PCSC, so that the real /usr/bin/scriptor can run
# against a recorded session (a cardgate/apdu4j dump) with no pcscd. Only the card is replaced:
# scriptor's parser and printer are the real ones, and so are the helper functions it calls
# (ascii_to_array, array_to_ascii), which are loaded from the installed module at run time.
package Chipcard::PCSC;
use strict;
use warnings;
use File::Spec;
use Carp;

our $errno = 0;
our $SCARD_PROTOCOL_T0 = 1;
our $SCARD_PROTOCOL_T1 = 2;
our $SCARD_SHARE_SHARED = 2;
our $SCARD_LEAVE_CARD = 0;
our $SCARD_RESET_CARD = 1;

# Loads named subs from the installed copy of a module into a package.
sub load_real_subs {
    my ($relative, $package, @names) = @_;
    my $here = File::Spec->rel2abs(__FILE__);
    my ($real) = grep { -f $_ && File::Spec->rel2abs($_) ne $here && $_ !~ /scriptor-stub/ }
        map { "$_/$relative" } @INC;
    die "installed $relative not found in \@INC" unless $real;
    open(my $fh, '<', $real) or die "$real: $!";
    local $/;
    my $source = <$fh>;
    close $fh;
    for my $name (@names) {
        $source =~ /^(sub \Q$name\E\b.*?^\})/ms or die "sub $name not found in $real";
        my $code = "package $package; no warnings 'redefine'; $1; 1;";
        eval $code or die "loading $name: $@";
    }
}

BEGIN {
    load_real_subs('Chipcard/PCSC.pm', 'Chipcard::PCSC', 'ascii_to_array', 'array_to_ascii');
}

sub new { my $class = shift; return bless {}, $class; }
sub ListReaders { return ("Stub Reader 00 00"); }

1;
