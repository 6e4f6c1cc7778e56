// Package fleet enrolls agents with deployment tokens and confines them:
// tokens (stored hashed, revocable, counted), the inventory of enrolled
// hosts and the auth callout that nats-server asks about every client that
// is not one of its configured users. A host connects with the NKey it
// generated; the callout finds it in the inventory and answers with a user
// JWT, signed by the backend's issuer key, that may publish only
// vigil.<env>.*.<host_id> and read its environment's rule bundle.
package fleet
