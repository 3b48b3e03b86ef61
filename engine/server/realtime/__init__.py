"""Live events over Socket.IO, and the state a client is sent when it joins a room."""
