#!/bin/sh
# scripts/install.sh install FILE... | uninstall — what `make install` / `make uninstall` do.
# Paths come from the environment (the Makefile's install variables). Each file goes where
# its kind belongs; $pkgdatadir/installed-files lists "sha256  path" of every file installed
# (the list a standby checks an upgrade against, and what uninstall removes). The config is
# created from the example only when absent, and recorded in $pkgdatadir/created-config so
# that uninstall removes it only while it is still unedited.
set -eu
: "${DESTDIR=}" "${sbindir:?}" "${pkgdatadir:?}" "${mandir:?}" "${sysconfdir:?}" "${unitdir:?}"
list=$pkgdatadir/installed-files
created=$pkgdatadir/created-config
conf=$sysconfdir/hotstandby/hotstandby.conf

dest_of() {
    case $1 in
    *.8) echo "$mandir/man8" ;;
    *.5) echo "$mandir/man5" ;;
    *.service | *.timer) echo "$unitdir" ;;
    *.sql) echo "$pkgdatadir" ;;
    *.conf.example) echo "$sysconfdir/hotstandby" ;;
    *) echo "$sbindir" ;;
    esac
}
mode_of() { [ "$(dest_of "$1")" = "$sbindir" ] && echo 0755 || echo 0644; }

do_install() {
    tmp=$DESTDIR$list.tmp
    install -d "$DESTDIR$pkgdatadir" "$DESTDIR$sysconfdir/hotstandby"
    : >"$tmp"
    for f; do
        d=$(dest_of "$f")
        install -d "$DESTDIR$d"
        install -m "$(mode_of "$f")" "$f" "$DESTDIR$d/"
        (cd "$DESTDIR$d" && sha256sum "$(basename "$f")") | sed "s|  |  $d/|" >>"$tmp"
    done
    mv -f "$tmp" "$DESTDIR$list"
    if [ -e "$DESTDIR$conf" ]; then
        echo "install: kept $DESTDIR$conf"
    else
        install -m 0640 "$DESTDIR$sysconfdir/hotstandby/hotstandby.conf.example" "$DESTDIR$conf"
        (cd "$DESTDIR$sysconfdir/hotstandby" && sha256sum hotstandby.conf) |
            sed "s|  |  $sysconfdir/hotstandby/|" >"$DESTDIR$created"
        echo "install: created $DESTDIR$conf from the example: edit it"
    fi
}

do_uninstall() {
    [ -f "$DESTDIR$list" ] || { echo "uninstall: nothing installed (no $DESTDIR$list)" >&2; exit 1; }
    while read -r sum path; do
        rm -f "$DESTDIR$path"
    done <"$DESTDIR$list"
    if [ -f "$DESTDIR$created" ]; then
        read -r sum path <"$DESTDIR$created"
        if [ -e "$DESTDIR$path" ] && [ "$(sha256sum <"$DESTDIR$path" | cut -d' ' -f1)" != "$sum" ]; then
            echo "uninstall: kept $DESTDIR$path (edited since install created it)"
        else
            rm -f "$DESTDIR$path"
        fi
    fi
    rm -f "$DESTDIR$list" "$DESTDIR$created"
    rmdir "$DESTDIR$pkgdatadir" 2>/dev/null || true
    rmdir "$DESTDIR$sysconfdir/hotstandby" 2>/dev/null || true
}

case ${1:-} in
install) shift; do_install "$@" ;;
uninstall) do_uninstall ;;
*) echo "usage: install.sh install FILE... | uninstall" >&2; exit 2 ;;
esac
