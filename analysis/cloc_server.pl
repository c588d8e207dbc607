#!/usr/bin/perl
# Serve cloc counts without compiling cloc for each: Perl spends about 0.2 s compiling cloc before
# it counts anything, most of a count of the few files an incremental refresh brings. This
# program compiles cloc once, together with the loop below, then forks a child per request; the
# child leaves the loop and runs cloc's own program, as a fresh `cloc OPTION...` would.
#
#   perl cloc_server.pl CLOC OPTION...
#
# A request is one line on stdin, tab-separated: ID DIRECTORY NAMES OUT ERR. The child works in
# DIRECTORY with stdin read from the file NAMES (give cloc --list-file=-) and its stdout and
# stderr written to the files OUT and ERR. The answer is one line on stdout: ID, a tab, and the
# child's wait status ($?), once it has exited. End of input ends the server.
use strict;
use warnings;

my ($cloc, @options) = @ARGV;
die "usage: $0 CLOC OPTION...\n" unless defined $cloc;
my $source = do {
    open my $in, '<', $cloc or die "cannot read $cloc: $!\n";
    local $/;
    <$in>;
};
my $serve = <<'SERVE';
{
    my $counting = 0;
    $| = 1;
    while (my $request = <STDIN>) {
        chomp $request;
        my ($id, $directory, $names, $out, $err) = split /\t/, $request, -1;
        my $pid = fork;
        if (!defined $pid) {
            print "$id\t-1\n";
            next;
        }
        if ($pid == 0) {
            chdir $directory or POSIX::_exit(120);
            open STDIN, '<', $names or POSIX::_exit(121);
            open STDOUT, '>', $out or POSIX::_exit(122);
            open STDERR, '>', $err or POSIX::_exit(123);
            @ARGV = @options;
            $counting = 1;
            last;
        }
        waitpid $pid, 0;
        print "$id\t$?\n";
    }
    exit 0 unless $counting;
}
SERVE
# Compile the loop and cloc as one program; its first statements are the loop's.
my $program = $serve . "\n#line 1 \"$cloc\"\n" . $source;
eval $program;
if ($@) {
    print STDERR $@;
    exit 2;
}
exit 0;
