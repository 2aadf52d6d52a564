#!/usr/bin/env bash
# Keeps the documentation true to the tree (`make lint` runs it first).
#
# Every text in backticks in docs/*.md, docs/**/*.md, README.md,
# kernel/mm/README.md and the `//!` module docs of the .rs files is checked:
#
# - a repository path (contains a `/` and starts with a top-level entry of the
#   repository, or ends in .rs/.md/.sh/.toml/.ld/.mk; a trailing `:LINE` is
#   allowed) must exist: as written, relative to the document, or as the tail
#   of a path in the tree (`buddy/free.rs`, `pcp.rs`). Globs and placeholders
#   (`*`, `{a,b}`, `<arch>`), absolute paths, URLs and paths under target/ are
#   not repository paths and are skipped;
# - a Rust name (`Type::method`, `module::item`, a snake_case identifier with
#   an underscore, a CamelCase identifier; trailing `()`, `!` or `[...]`
#   allowed) must occur as a word in the code of the repository's .rs files
#   (comments do not count, so a doc cannot vouch for itself; .s and .ld
#   files count, they define symbols too), or be listed in
#   docs/external-names.txt (names from outside the project: Linux, specs,
#   other crates' APIs; also the names of files the programs write, which
#   look like paths but are not in the repository).
#
# Command lines (text with spaces, `make ...`, flags starting with `-`) and
# fenced code blocks are skipped. Each failure is printed as
# FILE:LINE: `name` not found; the exit status is 1 if there was any.
#
# Needs bash, git and perl (Debian's perl-base, which every Debian has).
set -euo pipefail
cd "$(dirname "$0")/.."

exec perl -e '
use strict;
use warnings;

my @files = grep { -f $_ } split /\n/, `git ls-files --cached --others --exclude-standard`;
die "check-docs: git ls-files failed\n" if $?;
my %file = map { $_ => 1 } @files;

# Every directory of the tree, and the tail of every path ("a/b/c.rs" gives
# "b/c.rs" and "c.rs"), so that a path written relative to its crate or
# module is found.
my (%dir, %tail);
for my $f (@files) {
    my @p = split m{/}, $f;
    $dir{ join "/", @p[0 .. $_] } = 1 for 0 .. $#p - 1;
    $tail{ join "/", @p[$_ .. $#p] } = 1 for 0 .. $#p;
    $tail{ join "/", @p[$_ .. $#p - 1] } = 1 for 0 .. $#p - 1;
}
my %top = map { (split m{/})[0] => 1 } @files;

# Words of the code (.rs, and the assembly and linker scripts that define
# symbols the Rust code uses; comments removed), and the names of the .rs
# files (module and test names).
my %word;
for my $f (grep { /\.(rs|s|ld)$/ } @files) {
    $word{$1} = 1 if $f =~ m{([^/]+)\.rs$};
    open my $fh, "<", $f or die "$f: $!\n";
    while (my $l = <$fh>) {
        $l =~ s{//.*}{};
        $l =~ s{/\*.*?\*/}{}g;
        $word{$1} = 1 while $l =~ /([A-Za-z_][A-Za-z0-9_]*)/g;
    }
}

my %external;
open my $ex, "<", "docs/external-names.txt" or die "docs/external-names.txt: $!\n";
while (my $l = <$ex>) {
    $l =~ s/#.*//;
    $l =~ s/^\s+|\s+$//g;
    $external{$l} = 1 if length $l;
}

my $fails = 0;

sub path_exists {
    my ($p, $doc) = @_;
    $p =~ s{/+$}{};
    return 1 if -e $p || $tail{$p};
    (my $d = $doc) =~ s{[^/]*$}{};
    return 1 if length $d && -e "$d$p";
    return 0;
}

sub check {
    my ($doc, $line, $t) = @_;
    return if $t =~ /\s/ || $t =~ /^-/ || $t eq "";
    my $bad;
    my $pathish = $t =~ m{^([^/:]+)/} && $top{$1};
    (my $p = $t) =~ s/:\d+(-\d+)?$//;
    if ($pathish || $p =~ /\.(rs|md|sh|toml|ld|mk)$/) {
        return if $p =~ m{[*?{}<>\[\]\$]} || $p =~ m{^(/|~|target/|\w+://)};
        return if $p =~ m{^\.} && !$pathish;
        $bad = !path_exists($p, $doc) && !$external{$p};
    } else {
        (my $n = $t) =~ s/(\(.*\)|!|\[.*\])$//;
        $n =~ s/<.*>//g;
        $n =~ s/^::|::$//g;
        my $ident = qr/[A-Za-z_][A-Za-z0-9_]*/;
        my @seg;
        if ($n =~ /^$ident(::$ident)+$/) {
            @seg = grep { !/^(crate|self|super|std|core|alloc)$/ } split /::/, $n;
        } elsif ($n =~ /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/ || $n =~ /^_[a-z0-9_]+$/) {
            @seg = ($n);
        } elsif ($n =~ /^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*$/) {
            @seg = ($n);
        } else {
            return;
        }
        return if $external{$n};
        $bad = grep { !$word{$_} && !$external{$_} } @seg;
    }
    if ($bad) {
        print "$doc:$line: `$t` not found\n";
        $fails++;
    }
}

# Checks the backticked spans of `$text`, whose line N is line $map->[N] of `$doc`.
sub scan {
    my ($doc, $text, $map) = @_;
    my @lines = split /\n/, $text, -1;
    my ($fence, $buf, @bufmap) = (0, "");
    for my $i (0 .. $#lines) {
        if ($lines[$i] =~ /^\s*(```|~~~)/) { $fence = !$fence; next }
        next if $fence;
        $buf .= $lines[$i] . "\n";
        push @bufmap, $map->[$i];
    }
    my @starts = (0);
    push @starts, $-[0] + 1 while $buf =~ /\n/g;
    while ($buf =~ /(`+)(.+?)\1(?!`)/sg) {
        my ($span, $at) = ($2, $-[0]);
        my $n = 0;
        $n++ while $n + 1 < @starts && $starts[$n + 1] <= $at;
        $span =~ s/^ (.*) $/$1/s;
        check($doc, $bufmap[$n], $span);
    }
}

my @docs = sort grep { m{^docs/.*\.md$} || $_ eq "README.md" || $_ eq "kernel/mm/README.md" } @files;
for my $d (@docs) {
    open my $fh, "<", $d or die "$d: $!\n";
    my @l = <$fh>;
    chomp @l;
    scan($d, join("\n", @l), [ 1 .. @l ]);
}
for my $f (sort grep { /\.rs$/ } @files) {
    open my $fh, "<", $f or die "$f: $!\n";
    my ($text, @map, $n) = ("");
    while (my $l = <$fh>) {
        $n++;
        next unless $l =~ m{^\s*//!(.*)};
        $text .= "$1\n";
        push @map, $n;
    }
    scan($f, $text, \@map) if @map;
}
exit($fails ? 1 : 0);
'
