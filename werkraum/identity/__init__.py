"""The platform's identity provider as seen from the controller: reaching Keycloak, counting seats."""
