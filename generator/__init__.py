"""Portbook: port and firewall-rule documentation generated from one canonical dataset."""
