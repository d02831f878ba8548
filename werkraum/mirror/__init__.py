"""The artifact mirror: the binaries and images a rack installs, without the internet.

Its layout is kubespray's offline layout (``docs/mirror.md``): files under the
upstream host and path they would be downloaded from, images in a registry. On a
rack it is filled from upstream; in the lab the binaries are built from the Go module
proxy (``gobuild``) and the images locally.
"""
