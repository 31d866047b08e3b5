"""`make run`'s scripted session.

    runner         valence_demo: starts the installed node and the scripted face, prints updates
    scripted_face  valence_demo_publisher: a scripted face's emotion probabilities
"""
