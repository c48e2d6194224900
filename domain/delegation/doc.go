// Package delegation decides who may act on another principal's behalf (协同): a principal
// grants a delegate, usually an assistant, the right to act for them over a period,
// optionally only for some processes, and may revoke it. A decision taken by a delegate
// records both the actor and the principal it acted for.
//
// Each principal's grants form one aggregate, stored in the stream Stream(principal).
// Decide and Evolve are pure; the time arrives inside the commands.
package delegation
