"""Background work: the Dramatiq broker and the processes or threads that consume it."""
