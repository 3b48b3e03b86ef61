"""The python step: a callable from the install's plugins, in the engine's process or in a child
process of its own."""
