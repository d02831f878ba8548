#!/bin/bash
# Turns a bare Debian 12 systemd host into a small, real OpenStack API for the
# end-to-end run (release Zed, Debian's own packages): Keystone, Neutron (ML2,
# router plugin, no agents), and the API services of Nova and Cinder, whose
# quota and flavor calls need only their databases. Nothing here schedules a VM,
# plugs a port or attaches a volume: those need agents, hypervisors and Ceph.
#
# Runs inside the lab host as root. Inputs (environment):
#   OS_LAB_ADDRESS   the host's address, used in the service catalog
#   OS_LAB_PASSWORD  the password of every service user and of `admin`
#   OS_LAB_PHYSNET   the provider network name the platform's flat external network uses
set -euo pipefail
: "${OS_LAB_ADDRESS:?}" "${OS_LAB_PASSWORD:?}" "${OS_LAB_PHYSNET:?}"
export DEBIAN_FRONTEND=noninteractive
ADDR=$OS_LAB_ADDRESS
PW=$OS_LAB_PASSWORD
KEYSTONE=http://$ADDR:5000/v3

stage() { echo "=== $* ($(date +%T))"; }

stage "packages"
apt-get update -q
# The postinst scripts of these packages ask debconf about databases and
# endpoints; non-interactive they skip that, and it is done below instead.
# No service starts while packages are installed (policy-rc.d): cinder pulls in
# rtslib-fb, whose target service needs configfs, which a container lacks.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -q --no-install-recommends \
  mariadb-server crudini curl keystone neutron-server nova-api cinder-api python3-openstacksdk python3-pymysql

# Services the packages bring that need a kernel, iSCSI or an agent: off.
systemctl mask nova-api-metadata.service open-iscsi.service iscsid.socket iscsid.service rtslib-fb-targetctl.service

stage "uwsgi: two processes per API (the default 8 each need about 4 GB)"
for ini in /etc/keystone/*uwsgi.ini /etc/neutron/*uwsgi.ini /etc/nova/*uwsgi.ini /etc/cinder/*uwsgi.ini; do
  [ -f "$ini" ] || continue
  sed -i -E 's/^(processes|workers)\s*=.*/\1 = 2/' "$ini"
done

stage "databases"
systemctl enable --now mariadb
for db in keystone neutron nova_api nova nova_cell0 cinder; do
  user=${db%%_*}
  mariadb -e "CREATE DATABASE IF NOT EXISTS $db;
    CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$PW';
    GRANT ALL PRIVILEGES ON $db.* TO '$user'@'localhost';"
done

db_url() { echo "mysql+pymysql://$1:$PW@localhost/$2"; }

service_auth() {  # conf section user: the service user's Keystone credentials in one section
  local conf=$1 section=$2 user=$3
  crudini --set "$conf" "$section" auth_url "http://$ADDR:5000"
  crudini --set "$conf" "$section" auth_type password
  crudini --set "$conf" "$section" project_domain_name Default
  crudini --set "$conf" "$section" user_domain_name Default
  crudini --set "$conf" "$section" project_name service
  crudini --set "$conf" "$section" username "$user"
  crudini --set "$conf" "$section" password "$PW"
  crudini --set "$conf" "$section" region_name RegionOne
}

authtoken() {  # conf user
  service_auth "$1" keystone_authtoken "$2"
  crudini --set "$1" keystone_authtoken www_authenticate_uri "http://$ADDR:5000"
}

stage "keystone"
crudini --set /etc/keystone/keystone.conf database connection "$(db_url keystone keystone)"
crudini --set /etc/keystone/keystone.conf token provider fernet
su -s /bin/sh -c "keystone-manage db_sync" keystone
keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
keystone-manage bootstrap --bootstrap-password "$PW" \
  --bootstrap-admin-url "$KEYSTONE" --bootstrap-internal-url "$KEYSTONE" --bootstrap-public-url "$KEYSTONE" \
  --bootstrap-region-id RegionOne
systemctl enable keystone
systemctl restart keystone
for _ in $(seq 60); do curl -fsS "$KEYSTONE" >/dev/null 2>&1 && break; sleep 1; done

# One openstacksdk process for the service users and the catalog (the CLI takes seconds per call).
python3 - <<'PY'
import os

import openstack

addr, pw = os.environ["OS_LAB_ADDRESS"], os.environ["OS_LAB_PASSWORD"]
conn = openstack.connect(
    auth_url=f"http://{addr}:5000/v3", username="admin", password=pw, project_name="admin",
    user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
)
idn = conn.identity
project = idn.find_project("service") or idn.create_project(name="service", domain_id="default")
admin = idn.find_role("admin", ignore_missing=False)
if idn.find_role("member") is None:
    idn.create_role(name="member")
# user, service name, type, port, path
for user, name, kind, port, path in (
    ("neutron", "neutron", "network", 9696, ""),
    ("nova", "nova", "compute", 8774, "/v2.1"),
    ("cinder", "cinderv3", "volumev3", 8776, "/v3/%(project_id)s"),
):
    account = idn.find_user(user) or idn.create_user(name=user, password=pw, domain_id="default")
    idn.assign_project_role_to_user(project, account, admin)
    service = idn.find_service(name) or idn.create_service(name=name, type=kind)
    have = {e.interface for e in idn.endpoints(service_id=service.id)}
    for interface in ("public", "internal", "admin"):
        if interface not in have:
            idn.create_endpoint(
                service_id=service.id, interface=interface, url=f"http://{addr}:{port}{path}", region_id="RegionOne"
            )
    print(f"{name}: user, service and endpoints at http://{addr}:{port}{path}")
PY

stage "neutron (ML2, router plugin, no agents)"
N=/etc/neutron/neutron.conf
crudini --set $N database connection "$(db_url neutron neutron)"
crudini --set $N DEFAULT core_plugin ml2
crudini --set $N DEFAULT service_plugins router
crudini --set $N DEFAULT auth_strategy keystone
crudini --set $N DEFAULT transport_url fake://
crudini --set $N DEFAULT notify_nova_on_port_status_changes false
crudini --set $N DEFAULT notify_nova_on_port_data_changes false
crudini --set $N oslo_concurrency lock_path /var/lib/neutron/tmp
authtoken $N neutron
# Deleting a flat network loads the segments plugin, whose Nova and Placement clients
# need credentials even though no notification is sent (none is enabled above).
service_auth $N nova nova
service_auth $N placement nova
M=/etc/neutron/plugins/ml2/ml2_conf.ini
crudini --set $M ml2 type_drivers flat,vxlan
crudini --set $M ml2 tenant_network_types vxlan
crudini --set $M ml2 mechanism_drivers ""
crudini --set $M ml2 extension_drivers port_security
crudini --set $M ml2_type_flat flat_networks "$OS_LAB_PHYSNET"
crudini --set $M ml2_type_vxlan vni_ranges 1:1000
su -s /bin/sh -c "neutron-db-manage --config-file $N --config-file $M upgrade heads" neutron
systemctl enable neutron-api neutron-rpc-server
systemctl restart neutron-api neutron-rpc-server

stage "nova API (quotas and flavors only)"
V=/etc/nova/nova.conf
crudini --set $V api_database connection "$(db_url nova nova_api)"
crudini --set $V database connection "$(db_url nova nova)"
crudini --set $V DEFAULT transport_url fake://
crudini --set $V api auth_strategy keystone
crudini --set $V oslo_concurrency lock_path /var/lib/nova/tmp
authtoken $V nova
su -s /bin/sh -c "nova-manage api_db sync" nova
su -s /bin/sh -c "nova-manage cell_v2 map_cell0" nova
su -s /bin/sh -c "nova-manage db sync" nova
systemctl enable nova-api
systemctl restart nova-api

stage "cinder API (quotas only)"
C=/etc/cinder/cinder.conf
crudini --set $C database connection "$(db_url cinder cinder)"
crudini --set $C DEFAULT transport_url fake://
crudini --set $C DEFAULT auth_strategy keystone
crudini --set $C oslo_concurrency lock_path /var/lib/cinder/tmp
authtoken $C cinder
su -s /bin/sh -c "cinder-manage db sync" cinder
systemctl enable cinder-api
systemctl restart cinder-api

apt-get clean
stage "done"
