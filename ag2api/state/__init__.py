"""Live state shared by the pool: the interface, the memory backend, records, and the Redis
backend."""
