// Package principal decides who may use ticketledger: users (approvers, submitters,
// auditors, administrators) and service clients (business systems, each speaking for one
// system id), the roles and groups they hold, their attributes (department and free
// key/value attributes that process conditions read), and the bearer tokens they
// authenticate with.
//
// Each principal is one aggregate, stored in the stream Stream(id) ("principal-<id>"):
// every change to a principal, its roles, groups and tokens is an event, so auditors can
// tell who could approve what, and when. Decide and Evolve are pure; the time, the actor
// and token hashes arrive inside the commands. Tokens are never stored: a token is a
// random secret shown once to whoever issued it, and the stream keeps only its SHA-256
// hash (HashToken), its expiry and its revocation.
//
// Roles are slugs. Four carry authority in the API: RoleAdmin (everything), RoleDesigner
// (process definitions), RoleAuditor (histories, statistics, principals) and RoleSystem,
// without which a service principal may do nothing for its system. RoleApprover marks
// the users who decide tasks, but grants nothing by itself: who may decide a task is the
// node's routing (and the delegations of its handlers). Any other role, such as
// "finance", and every group only matter to process routing, where nodes name the roles
// and groups that handle them.
package principal
