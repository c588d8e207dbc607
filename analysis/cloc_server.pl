#!/usr/bin/perl
# Serve cloc counts without starting cloc for each: Perl spends about 0.2 s compiling cloc, and
# cloc more setting itself up, before it counts anything; most of a count of the few files an
# incremental refresh brings. This program does both once, then forks a child per request that
# goes on from there, as a fresh `cloc OPTION...` would.
#
#   perl cloc_server.pl CLOC OPTION...
#
# A request is one line on stdin, tab-separated: ID DIRECTORY NAMES OUT ERR. The child works in
# DIRECTORY with stdin read from the file NAMES (give cloc --list-file=-) and its stdout and
# stderr written to the files OUT and ERR. The answer is one line on stdout: ID, a tab, and the
# child's wait status ($?), once it has exited. End of input ends the server.
use strict;
use warnings;

my $cloc = shift @ARGV;    # @ARGV keeps the options: cloc reads them from there
die "usage: $0 CLOC OPTION...\n" unless defined $cloc;
my $source = do {
    open my $in, '<', $cloc or die "cannot read $cloc: $!\n";
    local $/;
    <$in>;
};
# cloc sets itself up (options, language tables) and then reads the names to count with its
# read_list_file. The server runs cloc that far once: the first call of read_list_file becomes
# the request loop, and each child returns from it into cloc, set up already, to read its names.
my $serve = <<'SERVE';
{
    no warnings 'redefine';
    die "this cloc has no read_list_file: it cannot be served\n" unless defined &main::read_list_file;
    my $read_list_file = \&main::read_list_file;
    *main::read_list_file = sub {
        *main::read_list_file = $read_list_file;    # in a child, later calls are cloc's own
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
                goto &$read_list_file;
            }
            waitpid $pid, 0;
            print "$id\t$?\n";
        }
        exit 0;
    };
}
SERVE
# Compile the loop and cloc as one program; its first statements install the loop.
my $program = $serve . "\n#line 1 \"$cloc\"\n" . $source;
eval $program;
if ($@) {
    print STDERR $@;
    exit 2;
}
exit 0;
