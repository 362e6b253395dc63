# polecat build script (MINCS's samples/polecat/nginx, for a busybox rootfs):
#   sudo polecat -s examples/polecat-busybox-httpd.sh -o httpd.sh ROOTFS
#   sudo ./httpd.sh -p 127.0.0.1:8080     # then: wget -qO- http://127.0.0.1:8080/
# polecat runs install_command in a sandbox of ROOTFS, then COMMAND once under
# the trapper (ended after --trap-time seconds), and bundles what the install
# wrote and what COMMAND used, with MKDIRS made and RMDIRS removed.  The
# bundle's arguments follow COMMAND: the port is given when it is run (during
# the build httpd listens on HTTPD_PORT, default 8080, of 127.0.0.1).

# the command of the bundle (split at blanks)
COMMAND="httpd -f -h /www -p 127.0.0.1:${HTTPD_PORT:-8080}"
# made empty in the bundle / removed from it
MKDIRS="/var/log /var/run"
RMDIRS="/www/drafts"

install_command() {
  mkdir -p /www/drafts
  echo 'not for the bundle' > /www/drafts/note.html
  echo '<h1>hello from a polecat bundle</h1>' > /www/index.html
}
