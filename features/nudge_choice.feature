Feature: The nudge that converts gets the slot
  A user sees one nudge a day in an app. When two nudges are due at once, the flywheel
  shows the one whose type has made users act more often so far, and keeps a few slots
  for the other, in case it was only unlucky.

  Scenario: Letter writers due two nudges are mostly shown the one that converts
    Given 12 letter writers were shown the nudge toward Phoenix CV and went on to use it
    And 12 busy letter writers were shown the nudge toward Phoenix Rise and never went
    When 20 newcomers each write 5 cover letters on the same morning
    Then Phoenix Letters shows at least 15 of the newcomers the nudge toward Phoenix CV
    And the experiments show the nudge toward Phoenix CV won more slots than the one toward Phoenix Rise

  Scenario: Showing the nudges again does not change which one a user gets
    Given 20 newcomers each write 5 cover letters on the same morning
    When all their events are processed again
    Then each newcomer is shown the same nudge as before
