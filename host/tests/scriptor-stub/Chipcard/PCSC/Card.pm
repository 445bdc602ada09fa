# Test stand-in for Chipcard::PCSC::Card: answers from the dump named by $SCRIPTOR_STUB_DUMP, in
# order (hex lines alternate command/response; "# RESET" + "# ATR:" mark a reset). A command that
# is not the next one recorded fails the transmit, as a dead card would. ISO7816Error is the real
# one, loaded from the installed module.
package Chipcard::PCSC::Card;
use strict;
use warnings;

BEGIN {
    Chipcard::PCSC::load_real_subs('Chipcard/PCSC/Card.pm', 'Chipcard::PCSC::Card', 'ISO7816Error');
}

sub new {
    my ($class, $context, $reader, $share, $protocols) = @_;
    my $path = $ENV{SCRIPTOR_STUB_DUMP} or die "SCRIPTOR_STUB_DUMP is not set";
    open(my $fh, '<', $path) or die "$path: $!";
    my (@events, $atr, $protocol, $pending_reset);
    while (my $line = <$fh>) {
        $line =~ s/\s+$//;
        next if $line eq '';
        if ($line =~ /^#\s*ATR:\s*([0-9A-Fa-f]+)/) {
            if ($pending_reset) { push @events, ['reset', $1]; $pending_reset = 0; }
            elsif (!defined $atr) { $atr = $1; }
        } elsif ($line =~ /^#\s*PROTOCOL:\s*T=(\d)/) {
            $protocol = $1;
        } elsif ($line =~ /^#\s*RESET/) {
            $pending_reset = 1;
        } elsif ($line =~ /^#/) {
        } elsif (@events && $events[-1][0] eq 'cmd') {
            $events[-1] = ['xchg', $events[-1][1], uc $line];
        } else {
            push @events, ['cmd', uc $line];
        }
    }
    my $self = bless { events => \@events, atr => $atr // '3B00', reader => $reader }, $class;
    $self->{dwProtocol} = ($protocol // 1) == 0 ? $Chipcard::PCSC::SCARD_PROTOCOL_T0 : $Chipcard::PCSC::SCARD_PROTOCOL_T1;
    return $self;
}

sub Transmit {
    my ($self, $send) = @_;
    my $hex = join '', map { sprintf '%02X', $_ } @$send;
    my $next = shift @{ $self->{events} };
    if (!$next || $next->[0] ne 'xchg' || $next->[1] ne $hex) {
        $Chipcard::PCSC::errno = "stub: unexpected command $hex";
        return undef;
    }
    return [ map { hex } ($next->[2] =~ /(..)/g) ];
}

sub Reconnect {
    my ($self) = @_;
    my $next = shift @{ $self->{events} };
    if (!$next || $next->[0] ne 'reset') {
        $Chipcard::PCSC::errno = "stub: unexpected reset";
        return undef;
    }
    $self->{atr} = $next->[1];
    return 1;
}

sub Status {
    my ($self) = @_;
    return ($self->{reader}, 0, $self->{dwProtocol}, [ map { hex } ($self->{atr} =~ /(..)/g) ]);
}

sub Disconnect { return 1; }

1;
