Feature: Poison events
  A failing event is retried, then set aside; it never blocks the others.

  Scenario: A failing event is retried, then dead, and the others are processed
    Given events are tried at most 3 times
    And an analysis that always fails for Mallory
    And Mallory generated a cover letter for "Airbus"
    And 4 other users each uploaded a CV
    When the flywheel processes the queue
    Then 4 events are processed
    And Mallory's event is dead after 3 attempts with its error kept
