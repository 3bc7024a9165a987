"""Task types: one module per type (or family), each registering itself (kflow.tasks.registry) when
imported. The registry imports only the module a type needs (index.json), or all of them."""
