"""The lab's topology: where each service listens and finds the others (endpoints, with
the replica lookup), the links between them through the faults proxies, and the virtual
hosts the server presents."""
